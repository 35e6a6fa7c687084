using System.Security.Cryptography;
using Dt.Dns.Wire;

namespace Dt.Dns.Zones;

/// <summary>
/// Signs zones on a master (RFC 4034/4035): DNSKEY RRset from the published keys, an NSEC chain over the
/// authoritative names, and an RRSIG per RRset and active key. Signatures already in the zone are kept while they
/// verify over the RRset as it will be, are by a key still active, and have more than
/// <see cref="DnsOptions.SignatureRefresh"/> left: so a change re-signs only what it touched (plus the SOA, whose
/// serial moves), and a signing pass with nothing due changes nothing. The output is ordinary records: they are
/// committed and replicated like any other, so every node serves the signed zone without a private key.
/// </summary>
internal sealed class ZoneSigner
{
    /// <summary>Signatures start this long before now, for resolvers whose clocks are behind.</summary>
    public static readonly TimeSpan InceptionSkew = TimeSpan.FromHours(1);

    private readonly DnsOptions _options;
    private readonly DnssecKeyDirectory _keys;
    private readonly TimeProvider _time;
    private readonly HashSet<string> _zones;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, HashSet<string>> _verified = new(StringComparer.Ordinal);

    public ZoneSigner(DnsOptions options, DnssecKeyDirectory keys, TimeProvider time)
    {
        _options = options;
        _keys = keys;
        _time = time;
        _zones = options.SignedZoneNames().Select(z => z.Key).ToHashSet(StringComparer.Ordinal);
    }

    public bool Signs(DnsName zone) => _zones.Contains(zone.Key);

    public IReadOnlyList<DnsName> Zones => [.. _zones.Select(z => DnsName.Parse(z))];

    public IReadOnlyList<DnssecKey> Keys(DnsName zone) => _keys.KeysFor(zone, _time.GetUtcNow());

    /// <summary>
    /// The signed zone: <paramref name="records"/> (normalized; any DNSSEC records in it are replaced) with DNSKEY,
    /// NSEC and RRSIG records, the SOA signed with <paramref name="serial"/>. <paramref name="current"/>: records the
    /// zone holds now, whose signatures may be kept.
    /// </summary>
    public List<DnsRecord> Sign(DnsName zone, IReadOnlyList<DnsRecord> records, IReadOnlyList<DnsRecord> current, uint serial)
    {
        var now = _time.GetUtcNow();
        var keys = _keys.KeysFor(zone, now);
        var active = keys.Where(k => k.IsActive(now)).ToList();
        if (active.Count == 0)
            throw new InvalidOperationException($"zone {zone} is in Dns:SignedZones but no key for it in {_keys.Path} is active");
        var ksks = active.Where(k => k.IsKsk).ToList();
        var zsks = active.Where(k => !k.IsKsk).ToList();
        var keySigners = ksks.Count > 0 ? ksks : zsks;
        var dataSigners = zsks.Count > 0 ? zsks : ksks;

        var data = records.Where(r => !IsDnssec(zone, r)).ToList();
        var soa = data.FirstOrDefault(r => r.Type == RrType.SOA && r.Name.Equals(zone))
            ?? throw new InvalidOperationException($"zone {zone} has no SOA record at its apex");
        var soaData = (SoaData)soa.Data;
        foreach (var k in keys.Where(k => k.IsPublished(now)))
            data.Add(new DnsRecord(zone, RrType.DNSKEY, RrClass.IN, soa.Ttl, k.Dnskey));

        var owners = new Dictionary<string, (DnsName Name, Dictionary<RrType, List<DnsRecord>> Sets)>(StringComparer.Ordinal);
        foreach (var r in data)
        {
            if (!owners.TryGetValue(r.Name.Key, out var o)) owners[r.Name.Key] = o = (r.Name, []);
            if (!o.Sets.TryGetValue(r.Type, out var list)) o.Sets[r.Type] = list = [];
            if (!list.Contains(r)) list.Add(r);
        }
        var cuts = owners.Values.Where(o => !o.Name.Equals(zone) && o.Sets.ContainsKey(RrType.NS)).Select(o => o.Name.Key).ToHashSet(StringComparer.Ordinal);
        bool Occluded(DnsName n)
        {
            for (var p = n.Parent; p.LabelCount > zone.LabelCount; p = p.Parent)
                if (cuts.Contains(p.Key)) return true;
            return false;
        }
        var chain = owners.Values.Where(o => !Occluded(o.Name)).OrderBy(o => o.Name).ToList();

        // NSEC chain (RFC 4034 §4, RFC 4035 §2.3): one per authoritative name, the last pointing back at the apex; at a
        // delegation only NS and DS are authoritative. TTL: the negative TTL (RFC 9077).
        uint nsecTtl = Math.Min(soa.Ttl, soaData.Minimum);
        for (int i = 0; i < chain.Count; i++)
        {
            var (name, sets) = chain[i];
            bool cut = cuts.Contains(name.Key);
            var types = sets.Keys.Where(t => !cut || t is RrType.NS or RrType.DS).Append(RrType.RRSIG).Append(RrType.NSEC).ToList();
            sets[RrType.NSEC] = [new DnsRecord(name, RrType.NSEC, RrClass.IN, nsecTtl, new NsecData(chain[(i + 1) % chain.Count].Name, types))];
        }

        var existing = current.Concat(records).Where(r => r.Data is RrsigData).GroupBy(r => (r.Name.Key, ((RrsigData)r.Data).TypeCovered))
            .ToDictionary(g => g.Key, g => g.Select(r => (RrsigData)r.Data).ToList());
        var verified = new HashSet<string>(StringComparer.Ordinal);
        HashSet<string> known;
        lock (_lock) known = _verified.GetValueOrDefault(zone.Key) ?? [];
        var output = new List<DnsRecord>(data.Count * 3);
        var w = new DnsWriter();
        foreach (var (name, sets) in chain)
        {
            bool cut = cuts.Contains(name.Key);
            foreach (var (type, set) in sets)
            {
                output.AddRange(type == RrType.DNSKEY || type == RrType.NSEC ? set : []);
                if (cut && type is not (RrType.DS or RrType.NSEC)) continue;
                uint ttl = set.Min(r => r.Ttl);
                var rdata = set.Select(r => r.Data is SoaData s ? s.WithSerial(serial) : r.Data)
                    .DistinctBy(d => Convert.ToBase64String(d.CanonicalWire)).OrderBy(d => d.CanonicalWire, ZoneSnapshot.ByteComparer.Instance).ToList();
                var old = existing.GetValueOrDefault((name.Key, type)) ?? [];
                foreach (var key in type == RrType.DNSKEY ? keySigners : dataSigners)
                {
                    var sig = Reuse(old, key, name, type, ttl, rdata, now, w, known, verified);
                    if (sig is null)
                    {
                        sig = NewSignature(zone, key, name, type, ttl, rdata, now, w);
                        verified.Add(SignatureId(SignedData(sig, name, type, ttl, rdata, w), sig.Signature));
                    }
                    output.Add(new DnsRecord(name, RrType.RRSIG, RrClass.IN, ttl, sig));
                }
            }
        }
        // Everything else (names below cuts: glue) goes as it is; the NSEC and DNSKEY sets were added above.
        output.AddRange(data.Where(r => r.Type != RrType.DNSKEY || !r.Name.Equals(zone)));
        lock (_lock) _verified[zone.Key] = verified;
        return output;
    }

    /// <summary>
    /// <paramref name="signed"/> (an output of <see cref="Sign"/>) with the SOA signed anew for <paramref name="serial"/>:
    /// a commit's second step, once the first found something due, without a second pass over the zone.
    /// </summary>
    public List<DnsRecord> ResignSoa(DnsName zone, IReadOnlyList<DnsRecord> signed, uint serial)
    {
        var now = _time.GetUtcNow();
        var active = _keys.KeysFor(zone, now).Where(k => k.IsActive(now)).ToList();
        var signers = active.Any(k => !k.IsKsk) ? active.Where(k => !k.IsKsk).ToList() : active;
        var soa = signed.First(r => r.Type == RrType.SOA && r.Name.Equals(zone));
        var output = signed.Where(r => !(r.Data is RrsigData { TypeCovered: RrType.SOA } && r.Name.Equals(zone))).ToList();
        List<RData> rdata = [((SoaData)soa.Data).WithSerial(serial)];
        var w = new DnsWriter();
        foreach (var key in signers)
            output.Add(new DnsRecord(zone, RrType.RRSIG, RrClass.IN, soa.Ttl, NewSignature(zone, key, zone, RrType.SOA, soa.Ttl, rdata, now, w)));
        return output;
    }

    /// <summary>Records the signer owns and rebuilds: RRSIG and NSEC anywhere, DNSKEY at the apex.</summary>
    public static bool IsDnssec(DnsName zone, DnsRecord r) =>
        r.Type is RrType.RRSIG or RrType.NSEC || r.Type == RrType.DNSKEY && r.Name.Equals(zone);

    private RrsigData? Reuse(List<RrsigData> old, DnssecKey key, DnsName owner, RrType type, uint ttl, List<RData> rdata,
        DateTimeOffset now, DnsWriter w, HashSet<string> known, HashSet<string> verified)
    {
        long nowS = now.ToUnixTimeSeconds();
        long refresh = (long)_options.SignatureRefresh.TotalSeconds;
        foreach (var sig in old)
        {
            if (sig.KeyTag != key.Tag || sig.Algorithm != DnssecKey.EcdsaP256Sha256 || sig.OriginalTtl != ttl || sig.Labels != Labels(owner)) continue;
            if (sig.Expiration - nowS <= refresh || sig.Inception > nowS) continue;
            var signed = SignedData(sig, owner, type, ttl, rdata, w);
            string id = SignatureId(signed, sig.Signature);
            if (known.Contains(id) || key.Verify(signed, sig.Signature))
            {
                verified.Add(id);
                return sig;
            }
        }
        return null;
    }

    /// <summary>Identifies a signature over given data, for the cache of signatures known to verify.</summary>
    private static string SignatureId(byte[] signed, byte[] signature) => Convert.ToBase64String(SHA256.HashData([.. signed, .. signature]));

    private RrsigData NewSignature(DnsName zone, DnssecKey key, DnsName owner, RrType type, uint ttl, List<RData> rdata, DateTimeOffset now, DnsWriter w)
    {
        var unsigned = new RrsigData(type, DnssecKey.EcdsaP256Sha256, Labels(owner), ttl, DnssecTime.Of(now + _options.SignatureValidity),
            DnssecTime.Of(now - InceptionSkew), key.Tag, zone, []);
        var signed = SignedData(unsigned, owner, type, ttl, rdata, w);
        return new RrsigData(type, unsigned.Algorithm, unsigned.Labels, ttl, unsigned.Expiration, unsigned.Inception, key.Tag, zone, key.Sign(signed));
    }

    /// <summary>The RRSIG's label count: the owner's labels, not counting a leading "*" (RFC 4034 §3.1.3).</summary>
    public static byte Labels(DnsName owner) => (byte)(owner.IsWildcard ? owner.LabelCount - 1 : owner.LabelCount);

    /// <summary>
    /// The data an RRSIG signs (RFC 4034 §3.1.8.1): its RDATA without the signature, then each record of the RRset in
    /// canonical form (owner lower case, original TTL), ordered by canonical RDATA.
    /// </summary>
    public static byte[] SignedData(RrsigData sig, DnsName owner, RrType type, uint ttl, IReadOnlyList<RData> sortedRdata, DnsWriter? w = null)
    {
        w ??= new DnsWriter();
        w.Reset();
        sig.WritePrefix(w);
        foreach (var d in sortedRdata)
        {
            w.WriteName(owner, compress: false, lowerCase: true);
            w.WriteU16((ushort)type);
            w.WriteU16((ushort)RrClass.IN);
            w.WriteU32(ttl);
            var rd = d.CanonicalWire;
            w.WriteU16((ushort)rd.Length);
            w.WriteBytes(rd);
        }
        if (w.Overflow) throw new InvalidOperationException($"the RRset {owner} {type} is too large to sign (over 64 KiB)");
        return w.ToArray();
    }

    /// <summary>Verifies one RRSIG over an RRset with a DNSKEY (for tests and checks).</summary>
    public static bool Verify(RrsigData sig, DnskeyData key, DnsName owner, IEnumerable<RData> rdata)
    {
        var sorted = rdata.OrderBy(d => d.CanonicalWire, ZoneSnapshot.ByteComparer.Instance).ToList();
        return DnssecKey.Verify(key, SignedData(sig, owner, sig.TypeCovered, sig.OriginalTtl, sorted), sig.Signature);
    }
}
