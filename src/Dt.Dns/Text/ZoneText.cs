using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dt.Dns.Wire;

namespace Dt.Dns.Text;

/// <summary>A token of master-file text: its raw text (escapes not yet decoded) and whether it was quoted.</summary>
public readonly record struct ZoneToken(string Text, bool Quoted)
{
    public override string ToString() => Quoted ? $"\"{Text}\"" : Text;
}

/// <summary>One logical entry of a master file: its tokens (parentheses joined), its first line, and whether the line
/// began with a blank (the owner is then the previous entry's).</summary>
public sealed record ZoneEntry(int Line, bool LeadingBlank, IReadOnlyList<ZoneToken> Tokens);

/// <summary>Bad master-file or presentation text; the message names the line when there is one.</summary>
public sealed class ZoneTextException(string message) : FormatException(message);

/// <summary>
/// Presentation-format text (RFC 1035 §5.1): tokenizing with comments, quotes, escapes and parentheses; TTLs with
/// BIND-style units; and the RDATA of every supported type, including the generic <c>\# length hex</c> form (RFC 3597).
/// </summary>
public static class ZoneText
{
    /// <summary>Largest TTL (RFC 2181 §8): 2^31 - 1.</summary>
    public const uint MaxTtl = int.MaxValue;

    public static List<ZoneEntry> Tokenize(string text)
    {
        var entries = new List<ZoneEntry>();
        var tokens = new List<ZoneToken>();
        var sb = new StringBuilder();
        int line = 1, entryLine = 1, depth = 0;
        bool leadingBlank = false, atLineStart = true, inToken = false;

        void EndToken(bool quoted)
        {
            if (inToken || quoted) tokens.Add(new ZoneToken(sb.ToString(), quoted));
            sb.Clear();
            inToken = false;
        }

        void EndEntry()
        {
            EndToken(false);
            if (tokens.Count > 0) entries.Add(new ZoneEntry(entryLine, leadingBlank, [.. tokens]));
            tokens.Clear();
        }

        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (atLineStart && depth == 0)
            {
                leadingBlank = c is ' ' or '\t';
                entryLine = line;
                atLineStart = false;
            }
            switch (c)
            {
                case '\n':
                    EndToken(false);
                    line++;
                    if (depth == 0)
                    {
                        EndEntry();
                        atLineStart = true;
                    }
                    break;
                case '\r':
                    EndToken(false);
                    break;
                case ' ' or '\t':
                    EndToken(false);
                    break;
                case ';':
                    EndToken(false);
                    while (i + 1 < text.Length && text[i + 1] != '\n') i++;
                    break;
                case '(':
                    EndToken(false);
                    depth++;
                    break;
                case ')':
                    EndToken(false);
                    if (--depth < 0) throw new ZoneTextException($"line {line}: ')' without '('");
                    break;
                case '"':
                    EndToken(false);
                    int startLine = line;
                    i++;
                    while (true)
                    {
                        if (i >= text.Length) throw new ZoneTextException($"line {startLine}: a quoted string is not closed");
                        char q = text[i];
                        if (q == '"') break;
                        if (q == '\\' && i + 1 < text.Length)
                        {
                            sb.Append(q).Append(text[i + 1]);
                            i += 2;
                            continue;
                        }
                        if (q == '\n') throw new ZoneTextException($"line {startLine}: a quoted string is not closed on its line");
                        sb.Append(q);
                        i++;
                    }
                    EndToken(true);
                    break;
                case '\\':
                    inToken = true;
                    sb.Append(c);
                    if (i + 1 < text.Length && text[i + 1] != '\n') sb.Append(text[++i]);
                    break;
                default:
                    inToken = true;
                    sb.Append(c);
                    break;
            }
        }
        if (depth != 0) throw new ZoneTextException($"line {entryLine}: '(' is not closed");
        EndEntry();
        return entries;
    }

    /// <summary>Tokens of one line of presentation text (e.g. the RDATA of a record).</summary>
    public static IReadOnlyList<ZoneToken> TokenizeLine(string text)
    {
        var entries = Tokenize(text.Replace('\n', ' '));
        return entries.Count == 0 ? [] : entries.SelectMany(e => e.Tokens).ToList();
    }

    /// <summary>A TTL: seconds, or BIND units (1w2d3h4m5s, case-insensitive). At most 2^31 - 1.</summary>
    public static bool TryParseTtl(string text, out uint ttl)
    {
        ttl = 0;
        if (text.Length == 0 || !char.IsAsciiDigit(text[0])) return false;
        ulong total = 0, current = 0;
        bool digits = false, units = false;
        foreach (char c in text)
        {
            if (char.IsAsciiDigit(c))
            {
                current = current * 10 + (ulong)(c - '0');
                digits = true;
                if (current > MaxTtl * 10UL) return false;
                continue;
            }
            if (!digits) return false;
            ulong mult = char.ToLowerInvariant(c) switch { 'w' => 604800, 'd' => 86400, 'h' => 3600, 'm' => 60, 's' => 1, _ => 0 };
            if (mult == 0) return false;
            total += current * mult;
            current = 0;
            digits = false;
            units = true;
        }
        if (digits) total += current;
        else if (!units) return false;
        if (total > MaxTtl) return false;
        ttl = (uint)total;
        return true;
    }

    public static uint ParseTtl(string text, string what = "TTL") =>
        TryParseTtl(text, out var ttl) ? ttl : throw new ZoneTextException($"{what} '{text}' is not a TTL (seconds up to 2147483647, or units like 1h30m)");

    /// <summary>Decodes a character-string token (quoted or not): \DDD and \X escapes, at most 255 bytes.</summary>
    public static byte[] DecodeCharacterString(ZoneToken token)
    {
        var bytes = DecodeEscapes(token.Text);
        if (bytes.Length > 255) throw new ZoneTextException($"a character-string of {bytes.Length} bytes is over 255 bytes");
        return bytes;
    }

    public static byte[] DecodeEscapes(string text)
    {
        var bytes = new List<byte>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                if (i + 3 < text.Length && char.IsAsciiDigit(text[i + 1]) && char.IsAsciiDigit(text[i + 2]) && char.IsAsciiDigit(text[i + 3]))
                {
                    int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
                    if (v > 255) throw new ZoneTextException($"escape \\{text.Substring(i + 1, 3)} is over 255");
                    bytes.Add((byte)v);
                    i += 3;
                }
                else if (char.IsAsciiDigit(text[i + 1]))
                {
                    throw new ZoneTextException("a \\DDD escape needs three digits");
                }
                else
                {
                    AppendUtf8(bytes, text[++i]);
                }
                continue;
            }
            AppendUtf8(bytes, c);
        }
        return [.. bytes];
    }

    private static void AppendUtf8(List<byte> bytes, char c)
    {
        if (c < 0x80) bytes.Add((byte)c);
        else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
    }

    private static ushort U16(ZoneToken t, string what) =>
        ushort.TryParse(t.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new ZoneTextException($"{what} '{t.Text}' is not a number from 0 to 65535");

    private static byte U8(ZoneToken t, string what) =>
        byte.TryParse(t.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new ZoneTextException($"{what} '{t.Text}' is not a number from 0 to 255");

    private static uint U32(ZoneToken t, string what) =>
        uint.TryParse(t.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new ZoneTextException($"{what} '{t.Text}' is not a number from 0 to 4294967295");

    private static uint Time(ZoneToken t, string what) =>
        DnssecTime.TryParse(t.Text, out var v) ? v : throw new ZoneTextException($"{what} '{t.Text}' is not YYYYMMDDHHmmSS or seconds");

    private static byte[] Base64(IEnumerable<ZoneToken> t, string what)
    {
        string s = string.Concat(t.Select(x => x.Text));
        try
        {
            return Convert.FromBase64String(s);
        }
        catch (FormatException)
        {
            throw new ZoneTextException($"{what} '{s}' is not base64");
        }
    }

    private static byte[] Hex(IEnumerable<ZoneToken> t, string what)
    {
        string s = string.Concat(t.Select(x => x.Text));
        try
        {
            return Convert.FromHexString(s);
        }
        catch (FormatException)
        {
            throw new ZoneTextException($"{what} '{s}' is not hexadecimal");
        }
    }

    private static uint Seconds(ZoneToken t, string what) =>
        TryParseTtl(t.Text, out var v) ? v : U32(t, what);

    public static DnsName Name(ZoneToken t, DnsName origin, string what = "name")
    {
        if (!DnsName.TryParse(t.Text, origin, out var n, out var error)) throw new ZoneTextException($"{what} '{t.Text}' is not a domain name: {error}");
        return n;
    }

    /// <summary>Strict dotted-quad IPv4 (IPAddress.Parse alone accepts "1" or "0x1").</summary>
    public static bool TryParseIPv4(string text, out IPAddress address)
    {
        address = IPAddress.None;
        var parts = text.Split('.');
        if (parts.Length != 4) return false;
        foreach (var p in parts)
            if (p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || int.Parse(p, CultureInfo.InvariantCulture) > 255) return false;
        address = IPAddress.Parse(text);
        return true;
    }

    /// <summary>Parses the RDATA of <paramref name="type"/> from its tokens; relative names are completed with <paramref name="origin"/>.</summary>
    public static RData ParseRData(RrType type, IReadOnlyList<ZoneToken> t, DnsName origin)
    {
        if (t.Count >= 1 && !t[0].Quoted && t[0].Text == @"\#") return ParseGeneric(type, t);
        void Count(int n)
        {
            if (t.Count != n) throw new ZoneTextException($"{DnsMnemonics.TypeName(type)} data needs {n} fields, not {t.Count} ('{string.Join(' ', t)}')");
        }
        switch (type)
        {
            case RrType.A:
                Count(1);
                if (!TryParseIPv4(t[0].Text, out var v4)) throw new ZoneTextException($"'{t[0].Text}' is not an IPv4 address");
                return new AData(v4);
            case RrType.AAAA:
                Count(1);
                if (!t[0].Text.Contains(':') || !IPAddress.TryParse(t[0].Text, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6 || v6.ScopeId != 0)
                    throw new ZoneTextException($"'{t[0].Text}' is not an IPv6 address");
                return new AaaaData(v6);
            case RrType.NS or RrType.CNAME or RrType.PTR or RrType.DNAME:
                Count(1);
                return new NameData(type, Name(t[0], origin, $"{type} target"));
            case RrType.MX:
                Count(2);
                return new MxData(U16(t[0], "MX preference"), Name(t[1], origin, "MX exchange"));
            case RrType.SOA:
                Count(7);
                return new SoaData(Name(t[0], origin, "SOA primary name server"), Name(t[1], origin, "SOA mailbox"), U32(t[2], "SOA serial"),
                    Seconds(t[3], "SOA refresh"), Seconds(t[4], "SOA retry"), Seconds(t[5], "SOA expire"), Seconds(t[6], "SOA minimum"));
            case RrType.TXT:
                if (t.Count == 0) throw new ZoneTextException("TXT data needs at least one string");
                return new TxtData(t.Select(DecodeCharacterString).ToArray());
            case RrType.SRV:
                Count(4);
                return new SrvData(U16(t[0], "SRV priority"), U16(t[1], "SRV weight"), U16(t[2], "SRV port"), Name(t[3], origin, "SRV target"));
            case RrType.CAA:
                Count(3);
                try
                {
                    return new CaaData(U8(t[0], "CAA flags"), t[1].Text, DecodeEscapes(t[2].Text));
                }
                catch (ArgumentException e)
                {
                    throw new ZoneTextException(e.Message);
                }
            case RrType.DNSKEY:
                if (t.Count < 4) throw new ZoneTextException("DNSKEY data needs flags, protocol, algorithm and the key in base64");
                return new DnskeyData(U16(t[0], "DNSKEY flags"), U8(t[1], "DNSKEY protocol"), U8(t[2], "DNSKEY algorithm"), Base64(t.Skip(3), "DNSKEY key"));
            case RrType.DS:
                if (t.Count < 4) throw new ZoneTextException("DS data needs key tag, algorithm, digest type and the digest in hex");
                return new DsData(U16(t[0], "DS key tag"), U8(t[1], "DS algorithm"), U8(t[2], "DS digest type"), Hex(t.Skip(3), "DS digest"));
            case RrType.RRSIG:
                if (t.Count < 9) throw new ZoneTextException("RRSIG data needs type, algorithm, labels, TTL, expiration, inception, key tag, signer and signature");
                if (!DnsMnemonics.TryParseType(t[0].Text, out var covered)) throw new ZoneTextException($"RRSIG type covered '{t[0].Text}' is not a type");
                return new RrsigData(covered, U8(t[1], "RRSIG algorithm"), U8(t[2], "RRSIG labels"), U32(t[3], "RRSIG original TTL"),
                    Time(t[4], "RRSIG expiration"), Time(t[5], "RRSIG inception"), U16(t[6], "RRSIG key tag"), Name(t[7], origin, "RRSIG signer"),
                    Base64(t.Skip(8), "RRSIG signature"));
            case RrType.NSEC:
                if (t.Count < 1) throw new ZoneTextException("NSEC data needs the next name");
                return new NsecData(Name(t[0], origin, "NSEC next name"), t.Skip(1).Select(x =>
                    DnsMnemonics.TryParseType(x.Text, out var nt) ? nt : throw new ZoneTextException($"NSEC type '{x.Text}' is not a type")).ToList());
            default:
                throw new ZoneTextException($"type {DnsMnemonics.TypeName(type)} needs its data in the generic form \\# length hex (RFC 3597)");
        }
    }

    private static RData ParseGeneric(RrType type, IReadOnlyList<ZoneToken> t)
    {
        if (t.Count < 2 || !int.TryParse(t[1].Text, NumberStyles.None, CultureInfo.InvariantCulture, out int len) || len > 65535)
            throw new ZoneTextException(@"generic data needs \# then its length in bytes");
        string hex = string.Concat(t.Skip(2).Select(x => x.Text));
        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            throw new ZoneTextException($"generic data '{hex}' is not hexadecimal");
        }
        if (bytes.Length != len) throw new ZoneTextException($"generic data has {bytes.Length} bytes, not the {len} its length says");
        if (type is RrType.OPT or RrType.TSIG) throw new ZoneTextException($"{type} is a meta type and cannot be zone data");
        try
        {
            var r = new DnsReader(bytes);
            return len == 0 ? new UnknownData(type, []) : RData.Read(type, ref r, len);
        }
        catch (DnsFormatException e)
        {
            throw new ZoneTextException($"generic data is not valid {DnsMnemonics.TypeName(type)} data: {e.Message}");
        }
    }

    /// <summary>
    /// Parses one record in zone-file form ("owner [ttl] [class] type rdata"), e.g. "www 300 IN A 192.0.2.1"; a
    /// relative owner is completed with <paramref name="origin"/>; the TTL defaults to <paramref name="defaultTtl"/>.
    /// </summary>
    public static DnsRecord ParseRecord(string line, DnsName origin, uint defaultTtl = 3600)
    {
        var tokens = TokenizeLine(line);
        if (tokens.Count < 2) throw new ZoneTextException($"'{line}' is not a record (owner [ttl] [class] type data)");
        var owner = Name(tokens[0], origin, "owner");
        int i = 1;
        uint? ttl = null;
        RrClass cls = RrClass.IN;
        ParseTtlAndClass(tokens, ref i, ref ttl, ref cls);
        if (i >= tokens.Count || !DnsMnemonics.TryParseType(tokens[i].Text, out var type))
            throw new ZoneTextException($"'{line}' has no record type");
        if (cls != RrClass.IN) throw new ZoneTextException($"class {DnsMnemonics.ClassName(cls)} is not supported; only IN");
        var data = ParseRData(type, tokens.Skip(i + 1).ToList(), origin);
        return new DnsRecord(owner, type, RrClass.IN, ttl ?? defaultTtl, data);
    }

    internal static void ParseTtlAndClass(IReadOnlyList<ZoneToken> tokens, ref int i, ref uint? ttl, ref RrClass cls)
    {
        bool seenTtl = false, seenClass = false;
        for (int k = 0; k < 2 && i < tokens.Count; k++)
        {
            var tok = tokens[i];
            if (tok.Quoted) break;
            if (!seenTtl && TryParseTtl(tok.Text, out var t))
            {
                ttl = t;
                seenTtl = true;
                i++;
            }
            else if (!seenClass && !DnsMnemonics.TryParseType(tok.Text, out _) && DnsMnemonics.TryParseClass(tok.Text, out var c))
            {
                cls = c;
                seenClass = true;
                i++;
            }
            else break;
        }
    }
}
