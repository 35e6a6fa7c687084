using System.Globalization;

namespace Dt.Dns.Wire;

/// <summary>DNSKEY (RFC 4034 §2): flags (256 zone key, 257 zone key + SEP: a KSK), protocol 3, algorithm, public key.</summary>
public sealed class DnskeyData(ushort flags, byte protocol, byte algorithm, byte[] publicKey) : RData
{
    public const ushort ZoneKeyFlag = 0x0100;
    public const ushort SepFlag = 0x0001;

    public override RrType Type => RrType.DNSKEY;

    public ushort Flags { get; } = flags;
    public byte Protocol { get; } = protocol;
    public byte Algorithm { get; } = algorithm;
    public byte[] PublicKey { get; } = publicKey;

    public bool IsKsk => (Flags & SepFlag) != 0;

    /// <summary>The key tag (RFC 4034 Appendix B): the ones'-complement-style sum over the RDATA.</summary>
    public ushort KeyTag
    {
        get
        {
            var rdata = CanonicalWire;
            uint ac = 0;
            for (int i = 0; i < rdata.Length; i++) ac += (i & 1) != 0 ? rdata[i] : (uint)rdata[i] << 8;
            ac += (ac >> 16) & 0xFFFF;
            return (ushort)(ac & 0xFFFF);
        }
    }

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteU16(Flags);
        w.WriteU8(Protocol);
        w.WriteU8(Algorithm);
        w.WriteBytes(PublicKey);
    }

    public override string ToText() => string.Create(CultureInfo.InvariantCulture, $"{Flags} {Protocol} {Algorithm} {Convert.ToBase64String(PublicKey)}");
}

/// <summary>DS (RFC 4034 §5): the parent's pointer to a child's key: key tag, algorithm, digest type, digest.</summary>
public sealed class DsData(ushort keyTag, byte algorithm, byte digestType, byte[] digest) : RData
{
    public override RrType Type => RrType.DS;

    public ushort KeyTag { get; } = keyTag;
    public byte Algorithm { get; } = algorithm;
    public byte DigestType { get; } = digestType;
    public byte[] Digest { get; } = digest;

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteU16(KeyTag);
        w.WriteU8(Algorithm);
        w.WriteU8(DigestType);
        w.WriteBytes(Digest);
    }

    public override string ToText() => string.Create(CultureInfo.InvariantCulture, $"{KeyTag} {Algorithm} {DigestType} {Convert.ToHexString(Digest)}");
}

/// <summary>
/// RRSIG (RFC 4034 §3). The signer's name is never compressed (RFC 4034 §3.1.7) and is lower case in canonical form.
/// Times are seconds since 1970 modulo 2^32, shown as YYYYMMDDHHmmSS.
/// </summary>
public sealed class RrsigData(RrType typeCovered, byte algorithm, byte labels, uint originalTtl, uint expiration, uint inception,
    ushort keyTag, DnsName signer, byte[] signature) : RData
{
    public override RrType Type => RrType.RRSIG;

    public RrType TypeCovered { get; } = typeCovered;
    public byte Algorithm { get; } = algorithm;
    public byte Labels { get; } = labels;
    public uint OriginalTtl { get; } = originalTtl;
    public uint Expiration { get; } = expiration;
    public uint Inception { get; } = inception;
    public ushort KeyTag { get; } = keyTag;
    public DnsName Signer { get; } = signer;
    public byte[] Signature { get; } = signature;

    /// <summary>The RDATA without the signature, signer in lower case: the start of the signed data (RFC 4034 §3.1.8.1).</summary>
    public void WritePrefix(DnsWriter w)
    {
        w.WriteU16((ushort)TypeCovered);
        w.WriteU8(Algorithm);
        w.WriteU8(Labels);
        w.WriteU32(OriginalTtl);
        w.WriteU32(Expiration);
        w.WriteU32(Inception);
        w.WriteU16(KeyTag);
        w.WriteName(Signer, compress: false, lowerCase: true);
    }

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteU16((ushort)TypeCovered);
        w.WriteU8(Algorithm);
        w.WriteU8(Labels);
        w.WriteU32(OriginalTtl);
        w.WriteU32(Expiration);
        w.WriteU32(Inception);
        w.WriteU16(KeyTag);
        w.WriteName(Signer, compress: false);
        w.WriteBytes(Signature);
    }

    protected override void WriteCanonical(DnsWriter w)
    {
        WritePrefix(w);
        w.WriteBytes(Signature);
    }

    public override string ToText() => string.Create(CultureInfo.InvariantCulture,
        $"{DnsMnemonics.TypeName(TypeCovered)} {Algorithm} {Labels} {OriginalTtl} {DnssecTime.Format(Expiration)} {DnssecTime.Format(Inception)} {KeyTag} {Signer} {Convert.ToBase64String(Signature)}");
}

/// <summary>NSEC (RFC 4034 §4): the next owner name in canonical order (never compressed) and the types at this name.</summary>
public sealed class NsecData(DnsName next, IReadOnlyList<RrType> types) : RData
{
    public override RrType Type => RrType.NSEC;

    public DnsName Next { get; } = next;

    /// <summary>The types present, ascending.</summary>
    public IReadOnlyList<RrType> Types { get; } = [.. types.Distinct().Order()];

    public bool Has(RrType type) => Types.Contains(type);

    public override void Write(DnsWriter w, bool compress)
    {
        w.WriteName(Next, compress: false);
        TypeBitmap.Write(w, Types);
    }

    public override string ToText() => Types.Count == 0 ? Next.ToString() : $"{Next} {string.Join(' ', Types.Select(DnsMnemonics.TypeName))}";
}

/// <summary>The type bitmap of NSEC (RFC 4034 §4.1.2): per 256-type window, its number, length and bits.</summary>
public static class TypeBitmap
{
    public static void Write(DnsWriter w, IReadOnlyList<RrType> ascending)
    {
        int i = 0;
        Span<byte> bits = stackalloc byte[32];
        while (i < ascending.Count)
        {
            int window = (ushort)ascending[i] >> 8;
            bits.Clear();
            int max = 0;
            for (; i < ascending.Count && (ushort)ascending[i] >> 8 == window; i++)
            {
                int low = (ushort)ascending[i] & 0xFF;
                bits[low / 8] |= (byte)(0x80 >> (low % 8));
                max = low / 8;
            }
            w.WriteU8((byte)window);
            w.WriteU8((byte)(max + 1));
            w.WriteBytes(bits[..(max + 1)]);
        }
    }

    public static List<RrType> Read(ref DnsReader r, int end)
    {
        var types = new List<RrType>();
        int last = -1;
        while (r.Position < end)
        {
            int window = r.ReadU8("a type bitmap");
            int len = r.ReadU8("a type bitmap");
            if (window <= last || len is 0 or > 32 || r.Position + len > end) throw new DnsFormatException("an NSEC type bitmap is malformed");
            last = window;
            var bytes = r.ReadBytes(len, "a type bitmap");
            for (int b = 0; b < len; b++)
                for (int bit = 0; bit < 8; bit++)
                    if ((bytes[b] & (0x80 >> bit)) != 0) types.Add((RrType)(window * 256 + b * 8 + bit));
        }
        return types;
    }
}

/// <summary>RRSIG times (RFC 4034 §3.2): YYYYMMDDHHmmSS in UTC, or the number of seconds.</summary>
public static class DnssecTime
{
    public static string Format(uint seconds) =>
        DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    public static bool TryParse(string text, out uint seconds)
    {
        seconds = 0;
        if (text.Length == 14 && DateTime.TryParseExact(text, "yyyyMMddHHmmss", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
        {
            long s = new DateTimeOffset(t, TimeSpan.Zero).ToUnixTimeSeconds();
            seconds = unchecked((uint)s);
            return true;
        }
        return text.Length < 14 && uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out seconds);
    }

    public static uint Of(DateTimeOffset t) => unchecked((uint)t.ToUnixTimeSeconds());
}
