using Dt.Dns.Wire;

namespace Dt.Dns.Zones;

/// <summary>The records of one owner name and type, with one TTL (the lowest of its records, RFC 2181 §5.2).</summary>
public sealed class RRset(DnsName name, RrType type, uint ttl, DnsRecord[] records)
{
    public DnsName Name { get; } = name;
    public RrType Type { get; } = type;
    public uint Ttl { get; } = ttl;
    public DnsRecord[] Records { get; } = records;
}

/// <summary>An owner name in a zone with its RRsets; an empty non-terminal has none (it exists: NODATA, not NXDOMAIN).
/// RRSIG records are not among <see cref="Sets"/>: they are kept per type covered (<see cref="Signatures"/>), each
/// set with its own TTL, and served beside the RRset they sign.</summary>
public sealed class ZoneNode(DnsName name, RRset[] sets, bool isApex, RRset[]? signatures = null)
{
    public DnsName Name { get; } = name;
    public RRset[] Sets { get; } = sets;

    /// <summary>RRSIG sets, one per type covered; <see cref="RRset.Type"/> is RRSIG, the covered type is in the records.</summary>
    public RRset[] Signatures { get; } = signatures ?? [];

    /// <summary>The RRSIGs covering <paramref name="covered"/> at this name (null if none).</summary>
    public RRset? SignaturesOf(RrType covered)
    {
        foreach (var s in Signatures)
            if (((RrsigData)s.Records[0].Data).TypeCovered == covered) return s;
        return null;
    }

    /// <summary>A delegation point: NS records below the apex (the data below it is not authoritative).</summary>
    public bool IsCut { get; } = !isApex && sets.Any(s => s.Type == RrType.NS);

    public RRset? Get(RrType type)
    {
        foreach (var s in Sets)
            if (s.Type == type) return s;
        return null;
    }
}

/// <summary>
/// An immutable, consistent version of one zone as served: built only from a content whose digest matches a serial
/// marker, so every node that serves a serial serves the same records under it. Queries read it without locks.
/// </summary>
public sealed class ZoneSnapshot
{
    private readonly Dictionary<string, ZoneNode> _nodes;

    private ZoneSnapshot(DnsName origin, uint serial, string digest, DnsRecord soa, DnsRecord[] records, Dictionary<string, ZoneNode> nodes)
    {
        Origin = origin;
        Serial = serial;
        Digest = digest;
        Soa = soa;
        Records = records;
        _nodes = nodes;
    }

    public DnsName Origin { get; }
    public uint Serial { get; }
    public string Digest { get; }

    /// <summary>The SOA as served, with <see cref="Serial"/>.</summary>
    public DnsRecord Soa { get; }

    public SoaData SoaData => (SoaData)Soa.Data;

    /// <summary>Every record (SOA first, then in canonical order), TTLs evened out per RRset: what a transfer sends.</summary>
    public DnsRecord[] Records { get; }

    /// <summary>TTL of negative answers (RFC 2308 §5): the lower of the SOA's TTL and its MINIMUM field.</summary>
    public uint NegativeTtl => Math.Min(Soa.Ttl, SoaData.Minimum);

    public ZoneNode? Find(string key) => _nodes.GetValueOrDefault(key);

    /// <summary>Signed: the apex has DNSKEY and NSEC records (then DO queries get signatures and denial proofs).</summary>
    public bool IsSigned => _nsecOwners.Length > 0 && Find(Origin.Key)?.Get(RrType.DNSKEY) is not null;

    private ZoneNode[] _nsecOwners = [];

    /// <summary>The NSEC whose owner is <paramref name="name"/> or the closest before it in canonical order: the one that
    /// matches or covers it (RFC 4034 §6.1; the chain's last NSEC covers everything after it).</summary>
    public ZoneNode? CoveringNsec(DnsName name)
    {
        int lo = 0, hi = _nsecOwners.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (_nsecOwners[mid].Name.CompareTo(name) <= 0) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found < 0 ? (_nsecOwners.Length > 0 ? _nsecOwners[^1] : null) : _nsecOwners[found];
    }

    public ZoneNode? Find(DnsName name) => _nodes.GetValueOrDefault(name.Key);

    public int NodeCount => _nodes.Count;

    /// <summary>Builds a snapshot from normalized records (one SOA at the apex among them; its serial is replaced).</summary>
    public static ZoneSnapshot Build(DnsName origin, uint serial, string digest, IEnumerable<DnsRecord> records)
    {
        var byName = new Dictionary<string, Dictionary<RrType, List<DnsRecord>>>(StringComparer.Ordinal);
        var names = new Dictionary<string, DnsName>(StringComparer.Ordinal);
        var sigs = new Dictionary<string, Dictionary<RrType, List<DnsRecord>>>(StringComparer.Ordinal);
        DnsRecord? soa = null;
        foreach (var rr in records)
        {
            var r = rr;
            if (r.Data is SoaData s)
            {
                if (!r.Name.Equals(origin)) continue;
                r = r.WithData(s.WithSerial(serial));
                if (soa is not null) continue;
                soa = r;
            }
            if (!byName.TryGetValue(r.Name.Key, out var types))
            {
                byName[r.Name.Key] = types = [];
                names[r.Name.Key] = r.Name;
            }
            if (r.Data is RrsigData sig)
            {
                // Signatures are grouped by the type they cover (each such set has its own TTL).
                if (!sigs.TryGetValue(r.Name.Key, out var byCovered)) sigs[r.Name.Key] = byCovered = [];
                if (!byCovered.TryGetValue(sig.TypeCovered, out var sl)) byCovered[sig.TypeCovered] = sl = [];
                if (!sl.Contains(r)) sl.Add(r);
                continue;
            }
            if (!types.TryGetValue(r.Type, out var list)) types[r.Type] = list = [];
            if (!list.Contains(r)) list.Add(r);
        }
        if (soa is null) throw new InvalidOperationException($"zone {origin} has no SOA record at its apex");

        var nodes = new Dictionary<string, ZoneNode>(StringComparer.Ordinal);
        var all = new List<DnsRecord>();
        foreach (var (key, types) in byName)
        {
            var name = names[key];
            var sets = types.OrderBy(t => (ushort)t.Key).Select(t => MakeSet(name, t.Key, t.Value)).ToArray();
            var signatures = sigs.TryGetValue(key, out var byCovered)
                ? byCovered.OrderBy(t => (ushort)t.Key).Select(t => MakeSet(name, RrType.RRSIG, t.Value)).ToArray()
                : null;
            nodes[key] = new ZoneNode(name, sets, name.Equals(origin), signatures);
            foreach (var s in sets)
                if (s.Type != RrType.SOA) all.AddRange(s.Records);
            foreach (var s in signatures ?? []) all.AddRange(s.Records);
        }
        // Empty non-terminals: every name between an owner and the apex exists.
        foreach (var name in names.Values)
        {
            for (var p = name.Parent; p.LabelCount > origin.LabelCount; p = p.Parent)
            {
                if (nodes.ContainsKey(p.Key)) break;
                nodes[p.Key] = new ZoneNode(p, [], isApex: false);
            }
        }
        if (!nodes.ContainsKey(origin.Key)) nodes[origin.Key] = new ZoneNode(origin, [], isApex: true);
        all.Sort(CanonicalOrder.Instance);
        all.Insert(0, nodes[origin.Key].Get(RrType.SOA)!.Records[0]);
        return new ZoneSnapshot(origin, serial, digest, all[0], [.. all], nodes)
        {
            _nsecOwners = [.. nodes.Values.Where(n => n.Get(RrType.NSEC) is not null).OrderBy(n => n.Name)],
        };
    }

    private static RRset MakeSet(DnsName name, RrType type, List<DnsRecord> records)
    {
        uint ttl = records.Min(r => r.Ttl);
        var rs = records.Select(r => r.WithTtl(ttl)).OrderBy(r => r.Data.CanonicalWire, ByteComparer.Instance).ToArray();
        return new RRset(name, type, ttl, rs);
    }

    /// <summary>Orders records by owner (DNSSEC canonical order), type, then data.</summary>
    public sealed class CanonicalOrder : IComparer<DnsRecord>
    {
        public static readonly CanonicalOrder Instance = new();

        public int Compare(DnsRecord? x, DnsRecord? y)
        {
            int c = x!.Name.CompareTo(y!.Name);
            if (c != 0) return c;
            c = ((ushort)x.Type).CompareTo((ushort)y.Type);
            return c != 0 ? c : ByteComparer.Instance.Compare(x.Data.CanonicalWire, y.Data.CanonicalWire);
        }
    }

    internal sealed class ByteComparer : IComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}

/// <summary>A difference between two consecutive served versions of a zone, for IXFR (RFC 1995).</summary>
public sealed record ZoneDiff(DnsRecord OldSoa, DnsRecord NewSoa, IReadOnlyList<DnsRecord> Removed, IReadOnlyList<DnsRecord> Added)
{
    public uint FromSerial => ((SoaData)OldSoa.Data).Serial;

    public uint ToSerial => ((SoaData)NewSoa.Data).Serial;

    public static ZoneDiff Between(ZoneSnapshot from, ZoneSnapshot to)
    {
        var old = from.Records.Skip(1).ToDictionary(r => DnsObjects.Line(r), StringComparer.Ordinal);
        var now = to.Records.Skip(1).ToDictionary(r => DnsObjects.Line(r), StringComparer.Ordinal);
        var removed = old.Where(kv => !now.ContainsKey(kv.Key)).Select(kv => kv.Value).ToList();
        var added = now.Where(kv => !old.ContainsKey(kv.Key)).Select(kv => kv.Value).ToList();
        removed.Sort(ZoneSnapshot.CanonicalOrder.Instance);
        added.Sort(ZoneSnapshot.CanonicalOrder.Instance);
        return new ZoneDiff(from.Soa, to.Soa, removed, added);
    }
}

/// <summary>
/// One zone as served: its origin, the snapshot in service (null while the zone is still loading on this node: its
/// queries get SERVFAIL) and the recent diffs kept for IXFR, oldest first.
/// </summary>
public sealed record ZoneEntry(DnsName Origin, ZoneSnapshot? Snapshot, IReadOnlyList<ZoneDiff> Journal);

/// <summary>The zones served, immutable: replaced as a whole when any zone changes, read without locks.</summary>
public sealed class ZoneTable
{
    public static readonly ZoneTable Empty = new(new Dictionary<string, ZoneEntry>(StringComparer.Ordinal));

    private readonly Dictionary<string, ZoneEntry> _zones;

    public ZoneTable(Dictionary<string, ZoneEntry> zones) => _zones = zones;

    public IEnumerable<ZoneEntry> Zones => _zones.Values;

    public int Count => _zones.Count;

    public ZoneEntry? Get(DnsName origin) => _zones.GetValueOrDefault(origin.Key);

    /// <summary>The zone that holds <paramref name="name"/>: the one with the longest matching origin.</summary>
    public ZoneEntry? FindZone(DnsName name)
    {
        for (int i = 0; i <= name.LabelCount; i++)
            if (_zones.TryGetValue(name.SuffixKey(i), out var z)) return z;
        return null;
    }

    internal Dictionary<string, ZoneEntry> CopyEntries() => new(_zones, StringComparer.Ordinal);
}
