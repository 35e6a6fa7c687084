using System.Globalization;
using System.Net;
using System.Text;

namespace Dt.Dns.Wire;

/// <summary>A question: name, type, class.</summary>
public sealed record DnsQuestion(DnsName Name, RrType Type, RrClass Class = RrClass.IN)
{
    public override string ToString() => $"{Name} {DnsMnemonics.ClassName(Class)} {DnsMnemonics.TypeName(Type)}";
}

/// <summary>
/// A resource record. Equality (used for RRset membership and UPDATE deletes) compares owner (case-insensitively),
/// type, class and RDATA in canonical form, not the TTL.
/// </summary>
public sealed class DnsRecord : IEquatable<DnsRecord>
{
    public DnsRecord(DnsName name, RrType type, RrClass cls, uint ttl, RData data)
    {
        Name = name;
        Type = type;
        Class = cls;
        Ttl = ttl;
        Data = data;
    }

    public DnsRecord(DnsName name, uint ttl, RData data) : this(name, data.Type, RrClass.IN, ttl, data)
    {
    }

    public DnsName Name { get; }
    public RrType Type { get; }
    public RrClass Class { get; }
    public uint Ttl { get; }
    public RData Data { get; }

    public DnsRecord WithTtl(uint ttl) => ttl == Ttl ? this : new DnsRecord(Name, Type, Class, ttl, Data);

    public DnsRecord WithName(DnsName name) => new(name, Type, Class, Ttl, Data);

    public DnsRecord WithData(RData data) => new(Name, Type, Class, Ttl, data);

    public bool Equals(DnsRecord? other) =>
        other is not null && Type == other.Type && Class == other.Class && Name.Equals(other.Name) && Data.Equals(other.Data);

    public override bool Equals(object? obj) => obj is DnsRecord r && Equals(r);

    public override int GetHashCode() => HashCode.Combine(Name, Type, Data);

    /// <summary>Zone file form: "owner TTL CLASS TYPE rdata".</summary>
    public override string ToString() =>
        $"{Name} {Ttl.ToString(CultureInfo.InvariantCulture)} {DnsMnemonics.ClassName(Class)} {DnsMnemonics.TypeName(Type)} {Data.ToText()}";
}

/// <summary>
/// The RDATA of a record. Known types are decoded; anything else is kept as opaque bytes (RFC 3597), written
/// without compression and shown as <c>\# length hex</c>. Equality is byte equality of the canonical form (names in
/// lower case for the types RFC 4034 §6.2 lists).
/// </summary>
public abstract class RData : IEquatable<RData>
{
    private byte[]? _canonical;

    public abstract RrType Type { get; }

    /// <summary>Writes the RDATA (not its length). <paramref name="compress"/>: whether names of types that RFC 1035
    /// defines may be compressed in this context.</summary>
    public abstract void Write(DnsWriter w, bool compress);

    /// <summary>Presentation form of the RDATA, as in a zone file.</summary>
    public abstract string ToText();

    /// <summary>Names that additional-section processing follows (NS, MX, SRV targets).</summary>
    public virtual DnsName? Target => null;

    /// <summary>Uncompressed wire form with lower-cased names: the basis of equality, digests and ordering.</summary>
    public byte[] CanonicalWire => _canonical ??= ComputeCanonical();

    protected virtual void WriteCanonical(DnsWriter w) => Write(w, compress: false);

    [ThreadStatic]
    private static DnsWriter? t_scratch;

    private byte[] ComputeCanonical()
    {
        var w = t_scratch ??= new DnsWriter(65535);
        w.Reset();
        WriteCanonical(w);
        return w.ToArray();
    }

    public bool Equals(RData? other) => other is not null && Type == other.Type && CanonicalWire.AsSpan().SequenceEqual(other.CanonicalWire);

    public override bool Equals(object? obj) => obj is RData d && Equals(d);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Type);
        h.AddBytes(CanonicalWire);
        return h.ToHashCode();
    }

    public override string ToString() => ToText();

    /// <summary>Decodes the RDATA of one record from the message; <paramref name="reader"/> is positioned at it.</summary>
    public static RData Read(RrType type, ref DnsReader reader, int length)
    {
        int start = reader.Position;
        int end = start + length;
        if (end > reader.Message.Length) throw new DnsFormatException("a record's data runs past the end of the message");
        RData data;
        switch (type)
        {
            case RrType.A:
                if (length != 4) throw new DnsFormatException($"an A record has {length} bytes of data, not 4");
                data = new AData(reader.ReadBytes(4).ToArray());
                break;
            case RrType.AAAA:
                if (length != 16) throw new DnsFormatException($"an AAAA record has {length} bytes of data, not 16");
                data = new AaaaData(reader.ReadBytes(16).ToArray());
                break;
            case RrType.NS or RrType.CNAME or RrType.PTR or RrType.DNAME:
                data = new NameData(type, reader.ReadName());
                break;
            case RrType.MX:
                data = new MxData(reader.ReadU16(), reader.ReadName());
                break;
            case RrType.SOA:
                data = new SoaData(reader.ReadName(), reader.ReadName(), reader.ReadU32(), reader.ReadU32(), reader.ReadU32(), reader.ReadU32(), reader.ReadU32());
                break;
            case RrType.TXT:
                var strings = new List<byte[]>();
                while (reader.Position < end) strings.Add(reader.ReadCharacterString());
                if (strings.Count == 0) throw new DnsFormatException("a TXT record has no character-string");
                data = new TxtData(strings);
                break;
            case RrType.SRV:
                data = new SrvData(reader.ReadU16(), reader.ReadU16(), reader.ReadU16(), reader.ReadName());
                break;
            case RrType.CAA:
                byte flags = reader.ReadU8();
                var tag = reader.ReadCharacterString("a CAA tag");
                if (reader.Position > end) throw new DnsFormatException("a CAA record is longer than its data");
                data = new CaaData(flags, Encoding.ASCII.GetString(tag), reader.ReadBytes(end - reader.Position).ToArray());
                break;
            case RrType.TSIG:
                data = TsigData.ReadFrom(ref reader, end);
                break;
            case RrType.DNSKEY:
                if (length < 4) throw new DnsFormatException("a DNSKEY record is shorter than 4 bytes");
                data = new DnskeyData(reader.ReadU16(), reader.ReadU8(), reader.ReadU8(), reader.ReadBytes(end - reader.Position).ToArray());
                break;
            case RrType.DS:
                if (length < 4) throw new DnsFormatException("a DS record is shorter than 4 bytes");
                data = new DsData(reader.ReadU16(), reader.ReadU8(), reader.ReadU8(), reader.ReadBytes(end - reader.Position).ToArray());
                break;
            case RrType.RRSIG:
            {
                if (length < 19) throw new DnsFormatException("an RRSIG record is shorter than 19 bytes");
                var covered = (RrType)reader.ReadU16();
                byte alg = reader.ReadU8(), labels = reader.ReadU8();
                uint ttl = reader.ReadU32(), exp = reader.ReadU32(), inc = reader.ReadU32();
                ushort keyTag = reader.ReadU16();
                var signer = reader.ReadName();
                if (reader.Position > end) throw new DnsFormatException("an RRSIG signer name runs past its record");
                data = new RrsigData(covered, alg, labels, ttl, exp, inc, keyTag, signer, reader.ReadBytes(end - reader.Position).ToArray());
                break;
            }
            case RrType.NSEC:
            {
                var next = reader.ReadName();
                if (reader.Position > end) throw new DnsFormatException("an NSEC next name runs past its record");
                data = new NsecData(next, TypeBitmap.Read(ref reader, end));
                break;
            }
            default:
                data = new UnknownData(type, reader.ReadBytes(length).ToArray());
                break;
        }
        if (reader.Position != end) throw new DnsFormatException($"a {DnsMnemonics.TypeName(type)} record's data is not {length} bytes long as its length says");
        return data;
    }

    internal static string Quote(ReadOnlySpan<byte> s)
    {
        var sb = new StringBuilder(s.Length + 2);
        sb.Append('"');
        foreach (byte b in s)
        {
            if (b is (byte)'"' or (byte)'\\') sb.Append('\\').Append((char)b);
            else if (b < 0x20 || b >= 0x7F) sb.Append('\\').Append(b.ToString("D3", CultureInfo.InvariantCulture));
            else sb.Append((char)b);
        }
        return sb.Append('"').ToString();
    }
}

public sealed class AData : RData
{
    private readonly byte[] _address;

    public AData(byte[] address)
    {
        if (address.Length != 4) throw new ArgumentException("an IPv4 address is 4 bytes", nameof(address));
        _address = address;
    }

    public AData(IPAddress address) : this(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
        ? address.GetAddressBytes() : throw new ArgumentException("not an IPv4 address", nameof(address)))
    {
    }

    public override RrType Type => RrType.A;

    public IPAddress Address => new(_address);

    public override void Write(DnsWriter w, bool compress) => w.WriteBytes(_address);

    public override string ToText() => Address.ToString();
}

public sealed class AaaaData : RData
{
    private readonly byte[] _address;

    public AaaaData(byte[] address)
    {
        if (address.Length != 16) throw new ArgumentException("an IPv6 address is 16 bytes", nameof(address));
        _address = address;
    }

    public AaaaData(IPAddress address) : this(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? address.GetAddressBytes() : throw new ArgumentException("not an IPv6 address", nameof(address)))
    {
    }

    public override RrType Type => RrType.AAAA;

    public IPAddress Address => new(_address);

    public override void Write(DnsWriter w, bool compress) => w.WriteBytes(_address);

    public override string ToText() => Address.ToString();
}

/// <summary>NS, CNAME, PTR (compressible, RFC 1035) and DNAME (not compressed, RFC 6672): one name.</summary>
public sealed class NameData(RrType type, DnsName target) : RData
{
    public override RrType Type { get; } = type;

    public DnsName Name { get; } = target;

    public override DnsName? Target => Type == RrType.NS ? Name : null;

    public override void Write(DnsWriter w, bool compress) => w.WriteName(Name, compress && Type != RrType.DNAME);

    protected override void WriteCanonical(DnsWriter w) => w.WriteName(Name, compress: false, lowerCase: true);

    public override string ToText() => Name.ToString();
}

public sealed class MxData(ushort preference, DnsName exchange) : RData
{
    public override RrType Type => RrType.MX;

    public ushort Preference { get; } = preference;

    public DnsName Exchange { get; } = exchange;

    public override DnsName? Target => Exchange;

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteU16(Preference);
        w.WriteName(Exchange, compress);
    }

    protected override void WriteCanonical(DnsWriter w)
    {
        w.WriteU16(Preference);
        w.WriteName(Exchange, compress: false, lowerCase: true);
    }

    public override string ToText() => $"{Preference.ToString(CultureInfo.InvariantCulture)} {Exchange}";
}

public sealed class SoaData(DnsName mname, DnsName rname, uint serial, uint refresh, uint retry, uint expire, uint minimum) : RData
{
    public override RrType Type => RrType.SOA;

    public DnsName MName { get; } = mname;
    public DnsName RName { get; } = rname;
    public uint Serial { get; } = serial;
    public uint Refresh { get; } = refresh;
    public uint Retry { get; } = retry;
    public uint Expire { get; } = expire;
    public uint Minimum { get; } = minimum;

    public SoaData WithSerial(uint serial) => new(MName, RName, serial, Refresh, Retry, Expire, Minimum);

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteName(MName, compress);
        w.WriteName(RName, compress);
        WriteNumbers(w);
    }

    protected override void WriteCanonical(DnsWriter w)
    {
        w.WriteName(MName, compress: false, lowerCase: true);
        w.WriteName(RName, compress: false, lowerCase: true);
        WriteNumbers(w);
    }

    private void WriteNumbers(DnsWriter w)
    {
        w.WriteU32(Serial);
        w.WriteU32(Refresh);
        w.WriteU32(Retry);
        w.WriteU32(Expire);
        w.WriteU32(Minimum);
    }

    public override string ToText() => string.Create(CultureInfo.InvariantCulture, $"{MName} {RName} {Serial} {Refresh} {Retry} {Expire} {Minimum}");
}

public sealed class TxtData : RData
{
    public TxtData(IReadOnlyList<byte[]> strings)
    {
        if (strings.Count == 0) throw new ArgumentException("TXT data has at least one character-string", nameof(strings));
        foreach (var s in strings)
            if (s.Length > 255) throw new ArgumentException("a character-string is at most 255 bytes", nameof(strings));
        Strings = strings;
    }

    public TxtData(params string[] strings) : this(strings.Select(Encoding.UTF8.GetBytes).ToArray())
    {
    }

    public override RrType Type => RrType.TXT;

    public IReadOnlyList<byte[]> Strings { get; }

    public override void Write(DnsWriter w, bool compress)
    {
        foreach (var s in Strings) w.WriteCharacterString(s);
    }

    public override string ToText() => string.Join(' ', Strings.Select(s => Quote(s)));
}

/// <summary>SRV (RFC 2782): its target is never compressed.</summary>
public sealed class SrvData(ushort priority, ushort weight, ushort port, DnsName target) : RData
{
    public override RrType Type => RrType.SRV;

    public ushort Priority { get; } = priority;
    public ushort Weight { get; } = weight;
    public ushort Port { get; } = port;
    public DnsName TargetName { get; } = target;

    public override DnsName? Target => TargetName;

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteU16(Priority);
        w.WriteU16(Weight);
        w.WriteU16(Port);
        w.WriteName(TargetName, compress: false);
    }

    protected override void WriteCanonical(DnsWriter w)
    {
        w.WriteU16(Priority);
        w.WriteU16(Weight);
        w.WriteU16(Port);
        w.WriteName(TargetName, compress: false, lowerCase: true);
    }

    public override string ToText() => string.Create(CultureInfo.InvariantCulture, $"{Priority} {Weight} {Port} {TargetName}");
}

/// <summary>CAA (RFC 8659): flags, a tag of letters and digits, and a value.</summary>
public sealed class CaaData : RData
{
    public CaaData(byte flags, string tag, byte[] value)
    {
        if (tag.Length is 0 or > 255 || !tag.All(char.IsAsciiLetterOrDigit)) throw new ArgumentException($"CAA tag '{tag}' must be 1 to 255 letters or digits", nameof(tag));
        Flags = flags;
        Tag = tag;
        Value = value;
    }

    public override RrType Type => RrType.CAA;

    public byte Flags { get; }
    public string Tag { get; }
    public byte[] Value { get; }

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteU8(Flags);
        w.WriteCharacterString(Encoding.ASCII.GetBytes(Tag));
        w.WriteBytes(Value);
    }

    public override string ToText() => $"{Flags.ToString(CultureInfo.InvariantCulture)} {Tag} {Quote(Value)}";
}

/// <summary>RDATA of a type this server does not decode (RFC 3597): opaque bytes.</summary>
public sealed class UnknownData(RrType type, byte[] data) : RData
{
    public override RrType Type { get; } = type;

    public byte[] Data { get; } = data;

    public override void Write(DnsWriter w, bool compress) => w.WriteBytes(Data);

    public override string ToText() => Data.Length == 0
        ? @"\# 0"
        : $@"\# {Data.Length.ToString(CultureInfo.InvariantCulture)} {Convert.ToHexString(Data)}";
}

/// <summary>TSIG RDATA (RFC 8945 §4.2).</summary>
public sealed class TsigData(DnsName algorithm, ulong timeSigned, ushort fudge, byte[] mac, ushort originalId, ushort error, byte[] otherData) : RData
{
    public override RrType Type => RrType.TSIG;

    public DnsName Algorithm { get; } = algorithm;
    public ulong TimeSigned { get; } = timeSigned;
    public ushort Fudge { get; } = fudge;
    public byte[] Mac { get; } = mac;
    public ushort OriginalId { get; } = originalId;
    public ushort Error { get; } = error;
    public byte[] OtherData { get; } = otherData;

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteName(Algorithm, compress: false);
        w.WriteU16((ushort)(TimeSigned >> 32));
        w.WriteU32((uint)TimeSigned);
        w.WriteU16(Fudge);
        w.WriteU16((ushort)Mac.Length);
        w.WriteBytes(Mac);
        w.WriteU16(OriginalId);
        w.WriteU16(Error);
        w.WriteU16((ushort)OtherData.Length);
        w.WriteBytes(OtherData);
    }

    public override string ToText() =>
        string.Create(CultureInfo.InvariantCulture, $"{Algorithm} {TimeSigned} {Fudge} {Mac.Length} {Convert.ToBase64String(Mac)} {OriginalId} {Error} {OtherData.Length}");

    internal static TsigData ReadFrom(ref DnsReader r, int end)
    {
        var alg = r.ReadName();
        ulong hi = r.ReadU16();
        ulong time = (hi << 32) | r.ReadU32();
        ushort fudge = r.ReadU16();
        int macLen = r.ReadU16();
        var mac = r.ReadBytes(macLen).ToArray();
        ushort orig = r.ReadU16();
        ushort error = r.ReadU16();
        int otherLen = r.ReadU16();
        var other = r.ReadBytes(otherLen).ToArray();
        if (r.Position > end) throw new DnsFormatException("TSIG data is longer than its record");
        return new TsigData(alg, time, fudge, mac, orig, error, other);
    }
}
