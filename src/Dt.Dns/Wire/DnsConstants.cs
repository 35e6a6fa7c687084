namespace Dt.Dns.Wire;

/// <summary>Resource record types (RFC 1035 and later). Any other 16-bit value is a valid, unknown type (RFC 3597).</summary>
public enum RrType : ushort
{
    A = 1,
    NS = 2,
    CNAME = 5,
    SOA = 6,
    PTR = 12,
    HINFO = 13,
    MX = 15,
    TXT = 16,
    AAAA = 28,
    SRV = 33,
    NAPTR = 35,
    DNAME = 39,
    OPT = 41,
    DS = 43,
    RRSIG = 46,
    NSEC = 47,
    DNSKEY = 48,
    TSIG = 250,
    IXFR = 251,
    AXFR = 252,
    MAILB = 253,
    MAILA = 254,
    ANY = 255,
    CAA = 257,
}

public enum RrClass : ushort
{
    IN = 1,
    CH = 3,
    HS = 4,
    NONE = 254,
    ANY = 255,
}

public enum DnsOpcode : byte
{
    Query = 0,
    IQuery = 1,
    Status = 2,
    Notify = 4,
    Update = 5,
}

/// <summary>Response codes, including the extended ones carried in the OPT record (EDNS) or in TSIG (RFC 8945).</summary>
public enum DnsRcode : ushort
{
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NXDomain = 3,
    NotImp = 4,
    Refused = 5,
    YXDomain = 6,
    YXRRSet = 7,
    NXRRSet = 8,
    NotAuth = 9,
    NotZone = 10,
    /// <summary>BADVERS in OPT, BADSIG in TSIG: both are 16.</summary>
    BadVers = 16,
    BadSig = 16,
    BadKey = 17,
    BadTime = 18,
}

/// <summary>The header flag bits (the second 16-bit word). The opcode and rcode live in the same word.</summary>
public static class DnsFlags
{
    public const ushort QR = 0x8000;
    public const ushort AA = 0x0400;
    public const ushort TC = 0x0200;
    public const ushort RD = 0x0100;
    public const ushort RA = 0x0080;
    public const ushort AD = 0x0020;
    public const ushort CD = 0x0010;
    public const int OpcodeShift = 11;
    public const ushort OpcodeMask = 0x7800;
    public const ushort RcodeMask = 0x000F;

    public static DnsOpcode Opcode(ushort flags) => (DnsOpcode)((flags & OpcodeMask) >> OpcodeShift);

    /// <summary>Flags with the opcode set in place (keeping every other bit): the opcode is part of the flags word,
    /// so writing flags after it must not clear it (a NOTIFY silently becomes a QUERY otherwise).</summary>
    public static ushort WithOpcode(ushort flags, DnsOpcode opcode) => (ushort)((flags & ~OpcodeMask) | (((int)opcode << OpcodeShift) & OpcodeMask));

    public static ushort WithRcode(ushort flags, DnsRcode rcode) => (ushort)((flags & ~RcodeMask) | ((int)rcode & RcodeMask));
}

/// <summary>Names of types and classes in presentation format, including the generic TYPEnnn/CLASSnnn forms (RFC 3597).</summary>
public static class DnsMnemonics
{
    private static readonly Dictionary<string, RrType> TypesByName = Enum.GetValues<RrType>()
        .ToDictionary(t => t.ToString(), t => t, StringComparer.OrdinalIgnoreCase);

    public static string TypeName(RrType type) =>
        Enum.IsDefined(type) ? type.ToString() : "TYPE" + ((ushort)type).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static bool TryParseType(string text, out RrType type)
    {
        if (TypesByName.TryGetValue(text, out type)) return true;
        if (text.Length > 4 && text.StartsWith("TYPE", StringComparison.OrdinalIgnoreCase)
            && ushort.TryParse(text.AsSpan(4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            type = (RrType)n;
            return true;
        }
        type = default;
        return false;
    }

    public static string ClassName(RrClass c) => c switch
    {
        RrClass.IN => "IN",
        RrClass.CH => "CH",
        RrClass.HS => "HS",
        RrClass.NONE => "NONE",
        RrClass.ANY => "ANY",
        _ => "CLASS" + ((ushort)c).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public static bool TryParseClass(string text, out RrClass c)
    {
        switch (text.ToUpperInvariant())
        {
            case "IN": c = RrClass.IN; return true;
            case "CH": case "CHAOS": c = RrClass.CH; return true;
            case "HS": c = RrClass.HS; return true;
            case "NONE": c = RrClass.NONE; return true;
            case "ANY": c = RrClass.ANY; return true;
        }
        if (text.Length > 5 && text.StartsWith("CLASS", StringComparison.OrdinalIgnoreCase)
            && ushort.TryParse(text.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            c = (RrClass)n;
            return true;
        }
        c = default;
        return false;
    }

    public static string RcodeName(DnsRcode rcode) => (ushort)rcode switch
    {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        var n => "RCODE" + n.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
