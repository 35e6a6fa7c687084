using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dt.Dns.Text;
using Dt.Dns.Wire;

namespace Dt.Dns.Zones;

/// <summary>What a Dt object of the DNS table is: a record, a serial marker, or something else (ignored).</summary>
public abstract record DnsObject(DnsName Zone);

/// <summary>One resource record of a zone (one Dt object per record).</summary>
public sealed record RecordObject(DnsName Zone, DnsRecord Record, string Line) : DnsObject(Zone);

/// <summary>A serial marker: "the zone's content whose digest is <see cref="Digest"/> has serial <see cref="Serial"/>".</summary>
public sealed record SerialObject(DnsName Zone, uint Serial, string Digest) : DnsObject(Zone);

/// <summary>
/// How zones live in a Dt table. <b>One Dt object per resource record</b>:
/// <code>{"dns":"rr","zone":"example.test.","name":"www.example.test.","type":"A","ttl":300,"data":"192.0.2.1"}</code>
/// Names are absolute and lower case, the data is the record's canonical presentation form (names lower case,
/// absolute), and the SOA's serial field is always 0: the serial served comes from the zone's serial marker:
/// <code>{"dns":"serial","zone":"example.test.","serial":7,"digest":"&lt;32 hex&gt;"}</code>
/// Per record, because a Dt object is identified by its content hash: adding a record that is already there changes
/// nothing (DNS RRsets are sets too), deleting one record is deleting one object (RFC 2136 granularity), and two
/// masters adding different records to the same RRset at once both keep theirs (an object per RRset would make the
/// later writer's RRset replace the earlier one's).
/// </summary>
public static class DnsObjects
{
    public const string KindField = "dns";
    public const string RecordKind = "rr";
    public const string SerialKind = "serial";

    /// <summary>The record in canonical form: owner and names inside the data in lower case, class IN, SOA serial 0.</summary>
    public static DnsRecord Normalize(DnsRecord rr)
    {
        RData data = rr.Data switch
        {
            NameData n => new NameData(n.Type, n.Name.ToLowerCase()),
            MxData mx => new MxData(mx.Preference, mx.Exchange.ToLowerCase()),
            SoaData soa => new SoaData(soa.MName.ToLowerCase(), soa.RName.ToLowerCase(), 0, soa.Refresh, soa.Retry, soa.Expire, soa.Minimum),
            SrvData srv => new SrvData(srv.Priority, srv.Weight, srv.Port, srv.TargetName.ToLowerCase()),
            RrsigData sig => new RrsigData(sig.TypeCovered, sig.Algorithm, sig.Labels, sig.OriginalTtl, sig.Expiration, sig.Inception, sig.KeyTag, sig.Signer.ToLowerCase(), sig.Signature),
            NsecData nsec => new NsecData(nsec.Next.ToLowerCase(), nsec.Types),
            var d => d,
        };
        return new DnsRecord(rr.Name.ToLowerCase(), rr.Type, RrClass.IN, rr.Ttl, data);
    }

    /// <summary>The record's canonical line (owner, type, TTL, data): the unit of zone digests and diffs.</summary>
    public static string Line(DnsRecord normalized) =>
        string.Create(CultureInfo.InvariantCulture, $"{normalized.Name.Key}\t{DnsMnemonics.TypeName(normalized.Type)}\t{normalized.Ttl}\t{normalized.Data.ToText()}");

    public static JsonElement ToObject(DnsName zone, DnsRecord rr)
    {
        var n = Normalize(rr);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString(KindField, RecordKind);
            w.WriteString("zone", zone.Key);
            w.WriteString("name", n.Name.Key);
            w.WriteString("type", DnsMnemonics.TypeName(n.Type));
            w.WriteNumber("ttl", n.Ttl);
            w.WriteString("data", n.Data.ToText());
            w.WriteEndObject();
        }
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    public static JsonElement SerialMarker(DnsName zone, uint serial, string digest)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString(KindField, SerialKind);
            w.WriteString("zone", zone.Key);
            w.WriteNumber("serial", serial);
            w.WriteString("digest", digest);
            w.WriteEndObject();
        }
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    /// <summary>
    /// Reads a Dt object: null if it is not a DNS object (other data may share the table), else the record or marker.
    /// A DNS object that is malformed gives null and a reason in <paramref name="invalid"/>.
    /// </summary>
    public static DnsObject? TryParse(JsonElement value, out string? invalid)
    {
        invalid = null;
        if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(KindField, out var kind) || kind.ValueKind != JsonValueKind.String)
            return null;
        try
        {
            var zone = DnsName.Parse(Str(value, "zone")).ToLowerCase();
            switch (kind.GetString())
            {
                case RecordKind:
                {
                    var name = DnsName.Parse(Str(value, "name"), zone).ToLowerCase();
                    string typeText = Str(value, "type");
                    if (!DnsMnemonics.TryParseType(typeText, out var type)) throw new FormatException($"'{typeText}' is not a record type");
                    if (!value.TryGetProperty("ttl", out var ttlProp) || !ttlProp.TryGetUInt32(out uint ttl) || ttl > ZoneText.MaxTtl)
                        throw new FormatException("ttl is missing or not a TTL");
                    if (!name.IsSubdomainOf(zone)) throw new FormatException($"{name} is not in zone {zone}");
                    var data = ZoneText.ParseRData(type, ZoneText.TokenizeLine(Str(value, "data")), zone);
                    var rr = Normalize(new DnsRecord(name, type, RrClass.IN, ttl, data));
                    return new RecordObject(zone, rr, Line(rr));
                }
                case SerialKind:
                {
                    if (!value.TryGetProperty("serial", out var s) || !s.TryGetUInt32(out uint serial)) throw new FormatException("serial is missing or not a 32-bit number");
                    return new SerialObject(zone, serial, Str(value, "digest"));
                }
                default:
                    invalid = $"unknown DNS object kind '{kind.GetString()}'";
                    return null;
            }
        }
        catch (FormatException e)
        {
            invalid = e.Message;
            return null;
        }
    }

    private static string Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : throw new FormatException($"'{name}' is missing or not a string");
}

/// <summary>
/// An order-independent digest of a set of record lines, kept incrementally: the count and four 64-bit lane sums of
/// the lines' SHA-256 hashes. Equal sets give equal digests on every node, whatever the order of changes.
/// </summary>
public sealed class ZoneDigest
{
    private readonly ulong[] _lanes = new ulong[4];

    public long Count { get; private set; }

    public void Add(string line) => Apply(line, +1);

    public void Remove(string line) => Apply(line, -1);

    private void Apply(string line, int sign)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(line), hash);
        for (int i = 0; i < 4; i++)
        {
            ulong v = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(hash[(i * 8)..]);
            _lanes[i] = sign > 0 ? _lanes[i] + v : _lanes[i] - v;
        }
        Count += sign;
    }

    /// <summary>32 hex characters.</summary>
    public string Value
    {
        get
        {
            Span<byte> state = stackalloc byte[40];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(state, Count);
            for (int i = 0; i < 4; i++) System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(state[(8 + i * 8)..], _lanes[i]);
            return Convert.ToHexStringLower(SHA256.HashData(state)[..16]);
        }
    }

    public static string Of(IEnumerable<string> distinctLines)
    {
        var d = new ZoneDigest();
        foreach (var l in distinctLines) d.Add(l);
        return d.Value;
    }
}

/// <summary>RFC 1982 serial number arithmetic on 32-bit SOA serials.</summary>
public static class SerialNumber
{
    /// <summary>True if <paramref name="a"/> is greater than <paramref name="b"/> (undefined halfway: compared as integers).</summary>
    public static bool Greater(uint a, uint b)
    {
        if (a == b) return false;
        uint d = a - b;
        return d == 0x8000_0000u ? a > b : d < 0x8000_0000u;
    }

    public static uint Max(IEnumerable<uint> serials)
    {
        bool any = false;
        uint best = 0;
        foreach (var s in serials)
        {
            if (!any || Greater(s, best)) best = s;
            any = true;
        }
        return best;
    }
}
