using Dt.Dns.Wire;

namespace Dt.Dns.Text;

/// <summary>
/// Reads an RFC 1035 master file: <c>$ORIGIN</c>, <c>$TTL</c> (RFC 2308), relative names and <c>@</c>, a blank owner
/// meaning the previous owner, TTL and class in either order, parentheses across lines, comments, quoted strings with
/// escapes, BIND-style TTL units, and generic <c>\# len hex</c> data. <c>$INCLUDE</c> and <c>$GENERATE</c> are refused
/// (an import never reads other files). A record without a TTL takes <c>$TTL</c>, else the last TTL given, else (for
/// the SOA) the SOA minimum. Only class IN is accepted.
/// </summary>
public static class ZoneFile
{
    public static List<DnsRecord> Parse(string text, DnsName origin)
    {
        var records = new List<DnsRecord>();
        DnsName currentOrigin = origin;
        DnsName? lastOwner = null;
        uint? defaultTtl = null, lastTtl = null;
        foreach (var entry in ZoneText.Tokenize(text))
        {
            try
            {
                var t = entry.Tokens;
                if (!entry.LeadingBlank && !t[0].Quoted && t[0].Text.StartsWith('$'))
                {
                    switch (t[0].Text.ToUpperInvariant())
                    {
                        case "$ORIGIN":
                            if (t.Count != 2) throw new ZoneTextException("$ORIGIN needs one name");
                            currentOrigin = ZoneText.Name(t[1], currentOrigin, "$ORIGIN");
                            break;
                        case "$TTL":
                            if (t.Count != 2) throw new ZoneTextException("$TTL needs one TTL");
                            defaultTtl = ZoneText.ParseTtl(t[1].Text, "$TTL");
                            break;
                        case "$INCLUDE":
                            throw new ZoneTextException("$INCLUDE is not supported: import each file on its own");
                        default:
                            throw new ZoneTextException($"directive {t[0].Text} is not supported");
                    }
                    continue;
                }

                int i = 0;
                DnsName owner;
                if (entry.LeadingBlank)
                {
                    owner = lastOwner ?? throw new ZoneTextException("the first record has no owner name");
                }
                else
                {
                    owner = ZoneText.Name(t[0], currentOrigin, "owner");
                    i = 1;
                }
                uint? ttl = null;
                RrClass cls = RrClass.IN;
                ZoneText.ParseTtlAndClass(t, ref i, ref ttl, ref cls);
                if (i >= t.Count) throw new ZoneTextException("the record has no type");
                if (!DnsMnemonics.TryParseType(t[i].Text, out var type)) throw new ZoneTextException($"'{t[i].Text}' is not a record type");
                if (cls != RrClass.IN) throw new ZoneTextException($"class {DnsMnemonics.ClassName(cls)} is not supported; only IN");
                if (type is RrType.OPT or RrType.TSIG or RrType.AXFR or RrType.IXFR or RrType.ANY or RrType.MAILA or RrType.MAILB)
                    throw new ZoneTextException($"{type} is a meta type and cannot be zone data");
                var data = ZoneText.ParseRData(type, t.Skip(i + 1).ToList(), currentOrigin);
                uint effective = ttl ?? defaultTtl ?? lastTtl
                    ?? (data is SoaData soa ? soa.Minimum : throw new ZoneTextException("the record has no TTL and no $TTL precedes it"));
                if (ttl is not null || defaultTtl is null) lastTtl = effective;
                lastOwner = owner;
                records.Add(new DnsRecord(owner, type, RrClass.IN, effective, data));
            }
            catch (ZoneTextException e)
            {
                throw new ZoneTextException($"line {entry.Line}: {e.Message}");
            }
        }
        return records;
    }
}
