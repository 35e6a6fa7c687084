using System.Collections.Concurrent;
using Dt.Dns.Text;
using Dt.Dns.Wire;

namespace Dt.Dns.Zones;

/// <summary>The outcome of a zone change: the zone, the serial it has now, and how many record objects changed.</summary>
public sealed record DnsChangeResult(string Zone, uint Serial, int Added, int Removed, bool Changed);

/// <summary>A zone as listed: its name, the serial in service (null while none matches), and its record count.</summary>
public sealed record DnsZoneInfo(string Zone, uint? Serial, int Records);

/// <summary>Where an editor reads a zone's current objects from.</summary>
internal interface IZoneView
{
    Task<ZoneState?> GetZoneAsync(DnsName zone, CancellationToken ct);

    Task<IReadOnlyList<ZoneState>> ListZonesAsync(CancellationToken ct);

    /// <summary>Waits (bounded) until this view serves <paramref name="serial"/>; a no-op for one-off listings.</summary>
    Task WaitServedAsync(DnsName zone, uint serial, CancellationToken ct);
}

/// <summary>The live view of a running <see cref="ZoneStore"/>: reads are local, and a change waits to be in service.</summary>
internal sealed class StoreView(ZoneStore store, TimeSpan commitTimeout) : IZoneView
{
    public Task<ZoneState?> GetZoneAsync(DnsName zone, CancellationToken ct) => Task.FromResult(store.GetState(zone));

    public Task<IReadOnlyList<ZoneState>> ListZonesAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<ZoneState>>(store.ZoneNames().Select(store.GetState).OfType<ZoneState>().ToList());

    public Task WaitServedAsync(DnsName zone, uint serial, CancellationToken ct) => store.WaitForSerialAsync(zone, serial, commitTimeout, ct);
}

/// <summary>A one-off listing of the table through the grain interfaces (e.g. a remote client: the CLI).</summary>
internal sealed class ListingView(IDtGrainFactory grains, string table) : IZoneView
{
    public async Task<ZoneState?> GetZoneAsync(DnsName zone, CancellationToken ct) =>
        (await ListAsync(ct)).GetValueOrDefault(zone.Key);

    public async Task<IReadOnlyList<ZoneState>> ListZonesAsync(CancellationToken ct) =>
        (await ListAsync(ct)).Values.Where(z => z.HasSoa).ToList();

    public Task WaitServedAsync(DnsName zone, uint serial, CancellationToken ct) => Task.CompletedTask;

    private async Task<Dictionary<string, ZoneState>> ListAsync(CancellationToken ct)
    {
        var raw = new Dictionary<string, RawZone>(StringComparer.Ordinal);
        await foreach (var o in grains.GetTable(table).ListObjects(ct))
        {
            if (DnsObjects.TryParse(o.Value, out _) is not { } d) continue;
            if (!raw.TryGetValue(d.Zone.Key, out var z)) raw[d.Zone.Key] = z = new RawZone(d.Zone);
            z.Add(o.Hash, d);
        }
        return raw.ToDictionary(kv => kv.Key, kv =>
        {
            var m = kv.Value.MatchingMarker();
            var s = kv.Value.ToState(null);
            return s with { ServedSerial = m?.Serial, ServedDigest = m is null ? null : s.Digest };
        }, StringComparer.Ordinal);
    }
}

/// <summary>
/// Changes zones in the Dt table: import a zone file, add or remove records, delete a zone. Every change is one
/// commit: remove the record objects that go, add the ones that come together with a new serial marker (serial =
/// the highest serial seen + 1, or the imported SOA's serial if that is higher; digest = the new content's), then
/// remove the old markers. Changes to one zone through one editor are serialized. Works on a master node, in process
/// (the DNS service's editor) or through a remote client (<c>new DnsZoneEditor(dtClient)</c>); elsewhere the engine
/// refuses with <c>not_master</c>.
/// </summary>
public sealed class DnsZoneEditor
{
    private const int AddChunk = 500;

    private readonly IDtGrainFactory _grains;
    private readonly string _table;
    private readonly uint _defaultTtl;
    private readonly IZoneView _view;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    /// <summary>An editor over any grain factory (e.g. a remote <c>DtClient</c>), reading the table by listing it.</summary>
    public DnsZoneEditor(IDtGrainFactory grains, string table = "dns", uint defaultTtl = 3600)
        : this(grains, table, defaultTtl, new ListingView(grains, table))
    {
    }

    /// <summary>Signs the zones it lists in every commit (set on a master whose options list signed zones).</summary>
    internal ZoneSigner? Signer { get; set; }

    internal DnsZoneEditor(IDtGrainFactory grains, string table, uint defaultTtl, IZoneView view)
    {
        _grains = grains;
        _table = table;
        _defaultTtl = defaultTtl;
        _view = view;
    }

    /// <summary>
    /// Replaces the zone's content with a master file (RFC 1035 §5; names relative to <paramref name="zone"/>). The
    /// file needs an SOA and at least one NS at the apex. The serial becomes the file's SOA serial if that is higher
    /// than any used so far, else the next one.
    /// </summary>
    public Task<DnsChangeResult> ImportZoneAsync(string zone, string zoneFileText, CancellationToken ct = default)
    {
        var origin = ParseZone(zone);
        List<DnsRecord> records;
        try
        {
            records = ZoneFile.Parse(zoneFileText, origin);
        }
        catch (ZoneTextException e)
        {
            throw Invalid($"zone file for {origin}: {e.Message}");
        }
        uint? serial = records.Select(r => r.Data).OfType<SoaData>().FirstOrDefault()?.Serial;
        return ChangeAsync(origin, _ => records, serial, create: true, force: false, ct);
    }

    /// <summary>Adds a record given in zone-file form relative to the zone ("www 300 IN A 192.0.2.1"; TTL optional).
    /// Like an RFC 2136 add, the TTL given becomes the TTL of the whole RRset.</summary>
    public Task<DnsChangeResult> AddRecordAsync(string zone, string record, CancellationToken ct = default)
    {
        var origin = ParseZone(zone);
        var rr = ParseRecord(record, origin);
        return AddRecordsAsync(origin, [rr], ct);
    }

    public Task<DnsChangeResult> AddRecordsAsync(DnsName zone, IReadOnlyList<DnsRecord> records, CancellationToken ct = default) =>
        ChangeAsync(zone, current =>
        {
            var list = current.ToList();
            foreach (var rr in records.Select(DnsObjects.Normalize))
            {
                for (int i = 0; i < list.Count; i++)
                    if (list[i].Type == rr.Type && list[i].Name.Equals(rr.Name)) list[i] = list[i].WithTtl(rr.Ttl);
                if (!list.Contains(rr)) list.Add(rr);
            }
            return list;
        }, null, create: false, force: false, ct);

    /// <summary>
    /// Removes records given relative to the zone: "www A 192.0.2.1" removes that record (any TTL), "www A" the whole
    /// RRset, "www ANY" every record of the name. The zone's SOA and last apex NS cannot be removed this way.
    /// </summary>
    public Task<DnsChangeResult> RemoveRecordAsync(string zone, string record, CancellationToken ct = default)
    {
        var origin = ParseZone(zone);
        var tokens = ZoneText.TokenizeLine(record);
        if (tokens.Count < 2) throw Invalid($"'{record}' must be: name type [data]");
        var name = ZoneText.Name(tokens[0], origin, "name");
        int i = 1;
        uint? ttl = null;
        RrClass cls = RrClass.IN;
        ZoneText.ParseTtlAndClass(tokens, ref i, ref ttl, ref cls);
        if (i >= tokens.Count || !DnsMnemonics.TryParseType(tokens[i].Text, out var type)) throw Invalid($"'{record}' has no record type");
        RData? data = null;
        if (i + 1 < tokens.Count)
        {
            try
            {
                data = ZoneText.ParseRData(type, tokens.Skip(i + 1).ToList(), origin);
            }
            catch (ZoneTextException e)
            {
                throw Invalid(e.Message);
            }
        }
        var target = data is null ? null : DnsObjects.Normalize(new DnsRecord(name, type, RrClass.IN, 0, data));
        return RemoveAsync(origin, rr => rr.Name.Equals(name) && (type == RrType.ANY || rr.Type == type) && (target is null || rr.Equals(target)), ct);
    }

    public Task<DnsChangeResult> RemoveAsync(DnsName zone, Func<DnsRecord, bool> match, CancellationToken ct = default) =>
        ChangeAsync(zone, current =>
        {
            var keep = current.Where(rr => !match(rr) || rr.Type == RrType.SOA && rr.Name.Equals(zone)).ToList();
            if (!keep.Any(rr => rr.Type == RrType.NS && rr.Name.Equals(zone)))
                keep.AddRange(current.Where(rr => rr.Type == RrType.NS && rr.Name.Equals(zone)));
            return keep;
        }, null, create: false, force: false, ct);

    /// <summary>Removes every object of the zone (records, then serial markers).</summary>
    public async Task<bool> DeleteZoneAsync(string zone, CancellationToken ct = default)
    {
        var origin = ParseZone(zone);
        var gate = _locks.GetOrAdd(origin.Key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            var state = await _view.GetZoneAsync(origin, ct);
            if (state is null) return false;
            var table = _grains.GetTable(_table);
            foreach (var r in state.Records) await table.RemoveObject(r.Hash);
            foreach (var m in state.Markers) await table.RemoveObject(m.Hash);
            return true;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The zone's records as held (SOA with the serial in service), or null if the zone does not exist.</summary>
    public async Task<IReadOnlyList<DnsRecord>?> GetRecordsAsync(string zone, CancellationToken ct = default)
    {
        var origin = ParseZone(zone);
        var state = await _view.GetZoneAsync(origin, ct);
        if (state is null || !state.HasSoa) return null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<DnsRecord>();
        foreach (var r in state.Records)
        {
            if (!seen.Add(r.Line)) continue;
            list.Add(r.Record.Data is SoaData soa ? r.Record.WithData(soa.WithSerial(state.ServedSerial ?? 0)) : r.Record);
        }
        list.Sort((a, b) => a.Type == RrType.SOA ? -1 : b.Type == RrType.SOA ? 1 : ZoneSnapshot.CanonicalOrder.Instance.Compare(a, b));
        return list;
    }

    public async Task<IReadOnlyList<DnsZoneInfo>> ListZonesAsync(CancellationToken ct = default) =>
        (await _view.ListZonesAsync(ct))
            .Select(z => new DnsZoneInfo(z.Origin.ToString(), z.ServedSerial, z.Records.Select(r => r.Line).Distinct().Count()))
            .OrderBy(z => z.Zone, StringComparer.Ordinal).ToList();

    /// <summary>
    /// Commits a new serial for what the zone holds now, if (checked under the zone's lock) its content matches no
    /// serial or two markers share a serial with different digests: a master's repair after a change cut short or
    /// two masters changing the zone at once.
    /// </summary>
    internal Task<DnsChangeResult> RecommitAsync(DnsName zone, CancellationToken ct) =>
        ChangeAsync(zone, current => [.. current], null, create: false, force: false, ct, repair: true);

    /// <summary>A signing pass: commits a new serial only if keys or signatures are due (new, retired or expiring).</summary>
    internal Task<DnsChangeResult> ResignAsync(DnsName zone, CancellationToken ct) =>
        ChangeAsync(zone, current => [.. current], null, create: false, force: false, ct);

    /// <summary>
    /// The one write path: computes the zone's new record set from the current one, validates it, and commits it with
    /// a new serial marker. <paramref name="create"/>: the zone may be new. <paramref name="force"/>: commit a new
    /// serial even if nothing changed.
    /// </summary>
    internal async Task<DnsChangeResult> ChangeAsync(DnsName zone, Func<IReadOnlyList<DnsRecord>, List<DnsRecord>> mutate, uint? serialFloor,
        bool create, bool force, CancellationToken ct, bool repair = false)
    {
        var gate = _locks.GetOrAdd(zone.Key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            var state = await _view.GetZoneAsync(zone, ct);
            if ((state is null || !state.HasSoa) && !create)
                throw new DtException(DtErrorCodes.InvalidArgument, $"zone {zone} does not exist; import it first");
            var currentItems = state?.Records ?? [];
            var current = Distinct(currentItems.Select(r => r.Record));
            var next = Distinct(mutate(current).Select(DnsObjects.Normalize));
            var errors = ZoneRules.Validate(zone, next);
            if (errors.Count > 0) throw Invalid($"zone {zone}: {string.Join("; ", errors)}");
            var signer = Signer is { } sg && sg.Signs(zone) ? sg : null;
            // A signed zone is first signed for the serial in service: if that changes nothing, nothing is due.
            if (signer is not null) next = Distinct(signer.Sign(zone, next, current, state?.ServedSerial ?? 0).Select(DnsObjects.Normalize));

            var nextLines = next.ToDictionary(DnsObjects.Line, StringComparer.Ordinal);
            var currentLines = currentItems.Select(r => r.Line).ToHashSet(StringComparer.Ordinal);
            string digest = ZoneDigest.Of(nextLines.Keys);

            bool consistent = state?.ServedSerial is { } served && state.ServedDigest == digest
                && state.Markers.Any(m => m.Serial == served && m.Digest == digest);
            if (repair) force = !consistent || state!.Markers.GroupBy(m => m.Serial).Any(g => g.Select(m => m.Digest).Distinct().Count() > 1);
            bool same = nextLines.Count == currentLines.Count && nextLines.Keys.All(currentLines.Contains);
            if (same && consistent && !force)
                return new DnsChangeResult(zone.ToString(), state!.ServedSerial!.Value, 0, 0, false);

            uint serial = NextSerial(state, serialFloor);
            if (signer is not null)
            {
                // The SOA's signature covers the new serial; every other signature stays as the first pass made it.
                next = Distinct(signer.ResignSoa(zone, next, serial).Select(DnsObjects.Normalize));
                nextLines = next.ToDictionary(DnsObjects.Line, StringComparer.Ordinal);
                digest = ZoneDigest.Of(nextLines.Keys);
            }
            var remove = currentItems.Where(r => !nextLines.ContainsKey(r.Line)).Select(r => r.Hash).ToList();
            var add = nextLines.Where(kv => !currentLines.Contains(kv.Key)).Select(kv => kv.Value).ToList();
            var table = _grains.GetTable(_table);
            foreach (var hash in remove) await table.RemoveObject(hash);
            var objects = add.Select(rr => DnsObjects.ToObject(zone, rr)).ToList();
            objects.Add(DnsObjects.SerialMarker(zone, serial, digest));
            for (int i = 0; i < objects.Count; i += AddChunk)
                await table.AddObjects(objects.GetRange(i, Math.Min(AddChunk, objects.Count - i)));
            foreach (var m in state?.Markers ?? [])
                if (!(m.Serial == serial && m.Digest == digest)) await table.RemoveObject(m.Hash);
            await _view.WaitServedAsync(zone, serial, ct);
            return new DnsChangeResult(zone.ToString(), serial, add.Count, remove.Count, true);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The zone's current records (distinct), for RFC 2136 prerequisite checks.</summary>
    internal async Task<IReadOnlyList<DnsRecord>?> CurrentRecordsAsync(DnsName zone, CancellationToken ct)
    {
        var state = await _view.GetZoneAsync(zone, ct);
        return state is null || !state.HasSoa ? null : Distinct(state.Records.Select(r => r.Record));
    }

    private static uint NextSerial(ZoneState? state, uint? floor)
    {
        if (state?.HighestSerial is not { } highest) return floor ?? 1;
        uint next = unchecked(highest + 1);
        return floor is { } f && SerialNumber.Greater(f, next) ? f : next;
    }

    /// <summary>Distinct records by owner, type and data (the last TTL given wins).</summary>
    private static List<DnsRecord> Distinct(IEnumerable<DnsRecord> records)
    {
        var map = new Dictionary<DnsRecord, int>();
        var list = new List<DnsRecord>();
        foreach (var rr in records)
        {
            if (map.TryGetValue(rr, out int i)) list[i] = rr;
            else
            {
                map[rr] = list.Count;
                list.Add(rr);
            }
        }
        return list;
    }

    private DnsRecord ParseRecord(string text, DnsName origin)
    {
        try
        {
            return ZoneText.ParseRecord(text, origin, _defaultTtl);
        }
        catch (ZoneTextException e)
        {
            throw Invalid(e.Message);
        }
    }

    internal static DnsName ParseZone(string zone)
    {
        if (!DnsName.TryParse(zone.EndsWith('.') ? zone : zone + ".", null, out var name, out var error))
            throw Invalid($"'{zone}' is not a zone name: {error}");
        return name.ToLowerCase();
    }

    private static DtException Invalid(string message) => new(DtErrorCodes.InvalidArgument, message);
}

/// <summary>What every committed zone must be.</summary>
public static class ZoneRules
{
    public static List<string> Validate(DnsName origin, IReadOnlyList<DnsRecord> records)
    {
        var errors = new List<string>();
        int soa = 0, apexNs = 0;
        var byName = new Dictionary<string, HashSet<RrType>>(StringComparer.Ordinal);
        foreach (var rr in records)
        {
            if (!rr.Name.IsSubdomainOf(origin)) { errors.Add($"{rr.Name} is outside the zone"); continue; }
            if (rr.Type is RrType.OPT or RrType.TSIG or RrType.AXFR or RrType.IXFR or RrType.ANY or RrType.MAILA or RrType.MAILB)
                errors.Add($"{rr.Name} has meta type {rr.Type}");
            if (rr.Ttl > ZoneText.MaxTtl) errors.Add($"{rr.Name} {rr.Type} has TTL {rr.Ttl} over 2147483647");
            if (rr.Data is UnknownData { Data.Length: 0 } && rr.Type is RrType.A or RrType.AAAA or RrType.NS or RrType.CNAME or RrType.MX or RrType.SOA or RrType.SRV or RrType.PTR)
                errors.Add($"{rr.Name} {rr.Type} has empty data");
            if (rr.Type == RrType.SOA)
            {
                if (rr.Name.Equals(origin)) soa++;
                else errors.Add($"{rr.Name} has an SOA record but is not the zone apex");
            }
            if (rr.Type == RrType.NS && rr.Name.Equals(origin)) apexNs++;
            if (!byName.TryGetValue(rr.Name.Key, out var types)) byName[rr.Name.Key] = types = [];
            if (rr.Type == RrType.CNAME && types.Contains(RrType.CNAME)) errors.Add($"{rr.Name} has more than one CNAME");
            types.Add(rr.Type);
        }
        if (soa != 1) errors.Add(soa == 0 ? "the zone has no SOA record at its apex" : "the zone has more than one SOA record");
        if (apexNs == 0) errors.Add("the zone has no NS record at its apex (secondaries refuse such a zone)");
        foreach (var (name, types) in byName)
        {
            if (!types.Contains(RrType.CNAME)) continue;
            if (name == origin.Key) errors.Add("the zone apex cannot have a CNAME");
            else if (types.Any(t => t is not (RrType.CNAME or RrType.RRSIG or RrType.NSEC)))
                errors.Add($"{name} has a CNAME and other data (RFC 1034 §3.6.2)");
        }
        return errors;
    }
}
