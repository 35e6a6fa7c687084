using System.Net;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Microsoft.Extensions.Logging;

namespace Dt.Dns.Server;

/// <summary>
/// RFC 2136 dynamic UPDATE, so stock tools (<c>nsupdate</c>, <c>knsupdate</c>) can change the network's zones.
/// Allowed when the request carries a valid TSIG (HMAC-SHA256) with a configured key, or comes from an address in
/// <see cref="DnsOptions.UpdateAllow"/>. Prerequisites are checked and updates applied under the zone's editor lock,
/// as one commit (a new serial). Only a master node applies updates; elsewhere they are REFUSED.
/// </summary>
internal sealed class UpdateProcessor(ZoneStore store, DnsZoneEditor editor, Tsig tsig, IReadOnlyList<AddressRange> allow, ILogger log)
{
    private sealed class RcodeException(DnsRcode rcode) : Exception
    {
        public DnsRcode Rcode { get; } = rcode;
    }

    public async Task<byte[]> ProcessAsync(DnsMessage m, byte[] raw, IPAddress remote, CancellationToken ct)
    {
        var zoneQ = m.Questions.Count == 1 ? m.Question : null;
        string zoneText = zoneQ?.Name.ToString() ?? "?";
        var check = m.Tsig is null ? TsigCheck.Unsigned : tsig.Verify(m, raw);
        if (m.Tsig is not null && !check.Valid)
        {
            DnsLog.UpdateRefused(log, zoneText, remote.ToString(), $"TSIG {DnsMnemonics.RcodeName(check.Error)}");
            return Respond(m, DnsRcode.NotAuth, check);
        }
        if (zoneQ is null || zoneQ.Type != RrType.SOA)
            return Respond(m, DnsRcode.FormErr, check);
        if (!check.Valid && !allow.Any(a => a.Contains(remote)))
        {
            DnsLog.UpdateRefused(log, zoneText, remote.ToString(), "not signed with a known TSIG key and not from an address in Dns:UpdateAllow");
            return Respond(m, DnsRcode.Refused, check);
        }
        var zone = zoneQ.Name.ToLowerCase();
        if (zoneQ.Class != RrClass.IN || store.Table.Get(zone) is not { Snapshot: not null })
        {
            DnsLog.UpdateRefused(log, zoneText, remote.ToString(), "not a zone served here");
            return Respond(m, DnsRcode.NotAuth, check);
        }
        try
        {
            foreach (var rr in m.Authority) Prescan(rr, zone);
            foreach (var rr in m.Answers)
                if (!rr.Name.IsSubdomainOf(zone)) throw new RcodeException(DnsRcode.NotZone);
            var result = await editor.ChangeAsync(zone, current =>
            {
                CheckPrerequisites(m.Answers, current);
                return Apply(m.Authority, current, zone);
            }, null, create: false, force: false, ct);
            DnsLog.UpdateApplied(log, zoneText, remote.ToString(), result.Serial, result.Added, result.Removed);
            return Respond(m, DnsRcode.NoError, check);
        }
        catch (RcodeException e)
        {
            DnsLog.UpdateRefused(log, zoneText, remote.ToString(), DnsMnemonics.RcodeName(e.Rcode));
            return Respond(m, e.Rcode, check);
        }
        catch (DtException e)
        {
            DnsLog.UpdateFailed(log, zoneText, remote.ToString(), e.Message);
            return Respond(m, e.Code == DtErrorCodes.NotMaster ? DnsRcode.Refused : DnsRcode.ServFail, check);
        }
    }

    private byte[] Respond(DnsMessage request, DnsRcode rcode, TsigCheck check)
    {
        var r = new DnsMessage { Id = request.Id, Flags = DnsFlags.QR };
        r.Opcode = DnsOpcode.Update;
        r.Rcode = rcode;
        if (request.Question is { } q) r.Questions.Add(q);
        var bytes = r.ToWire();
        return request.Tsig is null ? bytes : tsig.Sign(bytes, check, request.Tsig.Name);
    }

    private static bool IsMeta(RrType t) => t is RrType.ANY or RrType.AXFR or RrType.IXFR or RrType.MAILA or RrType.MAILB or RrType.OPT or RrType.TSIG;

    private static bool Empty(DnsRecord rr) => rr.Data is UnknownData { Data.Length: 0 };

    /// <summary>RFC 2136 §3.4.1.</summary>
    private static void Prescan(DnsRecord rr, DnsName zone)
    {
        if (!rr.Name.IsSubdomainOf(zone)) throw new RcodeException(DnsRcode.NotZone);
        switch (rr.Class)
        {
            case RrClass.IN:
                if (IsMeta(rr.Type) || Empty(rr)) throw new RcodeException(DnsRcode.FormErr);
                break;
            case RrClass.ANY:
                if (rr.Ttl != 0 || !Empty(rr) || rr.Type is RrType.AXFR or RrType.IXFR or RrType.MAILA or RrType.MAILB)
                    throw new RcodeException(DnsRcode.FormErr);
                break;
            case RrClass.NONE:
                if (rr.Ttl != 0 || IsMeta(rr.Type)) throw new RcodeException(DnsRcode.FormErr);
                break;
            default:
                throw new RcodeException(DnsRcode.FormErr);
        }
    }

    /// <summary>RFC 2136 §3.2.</summary>
    private static void CheckPrerequisites(IReadOnlyList<DnsRecord> prereqs, IReadOnlyList<DnsRecord> current)
    {
        var valueDependent = new List<DnsRecord>();
        foreach (var rr in prereqs)
        {
            if (rr.Ttl != 0) throw new RcodeException(DnsRcode.FormErr);
            switch (rr.Class)
            {
                case RrClass.ANY:
                    if (!Empty(rr)) throw new RcodeException(DnsRcode.FormErr);
                    if (rr.Type == RrType.ANY)
                    {
                        if (!current.Any(c => c.Name.Equals(rr.Name))) throw new RcodeException(DnsRcode.NXDomain);
                    }
                    else if (!current.Any(c => c.Name.Equals(rr.Name) && c.Type == rr.Type)) throw new RcodeException(DnsRcode.NXRRSet);
                    break;
                case RrClass.NONE:
                    if (!Empty(rr)) throw new RcodeException(DnsRcode.FormErr);
                    if (rr.Type == RrType.ANY)
                    {
                        if (current.Any(c => c.Name.Equals(rr.Name))) throw new RcodeException(DnsRcode.YXDomain);
                    }
                    else if (current.Any(c => c.Name.Equals(rr.Name) && c.Type == rr.Type)) throw new RcodeException(DnsRcode.YXRRSet);
                    break;
                case RrClass.IN:
                    valueDependent.Add(DnsObjects.Normalize(rr));
                    break;
                default:
                    throw new RcodeException(DnsRcode.FormErr);
            }
        }
        foreach (var g in valueDependent.GroupBy(r => (r.Name.Key, r.Type)))
        {
            var want = g.Select(r => r.Data).ToHashSet();
            var have = current.Where(c => c.Name.Key == g.Key.Key && c.Type == g.Key.Type)
                .Select(c => c.Data).ToHashSet();
            if (!want.SetEquals(have)) throw new RcodeException(DnsRcode.NXRRSet);
        }
    }

    /// <summary>RFC 2136 §3.4.2, including its special cases for SOA, apex NS and CNAME.</summary>
    private static List<DnsRecord> Apply(IReadOnlyList<DnsRecord> updates, IReadOnlyList<DnsRecord> current, DnsName zone)
    {
        var list = current.ToList();
        foreach (var u in updates)
        {
            bool apex = u.Name.Equals(zone);
            switch (u.Class)
            {
                case RrClass.IN:
                {
                    var rr = DnsObjects.Normalize(u);
                    if (rr.Type == RrType.SOA)
                    {
                        // Replace the SOA's fields; the serial is the network's to derive, so the one sent is ignored.
                        if (!apex) break;
                        list.RemoveAll(c => c.Type == RrType.SOA);
                        list.Add(rr);
                        break;
                    }
                    bool hasCname = list.Any(c => c.Name.Equals(rr.Name) && c.Type == RrType.CNAME);
                    bool hasOther = list.Any(c => c.Name.Equals(rr.Name) && c.Type != RrType.CNAME);
                    if (rr.Type == RrType.CNAME)
                    {
                        if (hasOther) break;
                        list.RemoveAll(c => c.Name.Equals(rr.Name) && c.Type == RrType.CNAME);
                        list.Add(rr);
                        break;
                    }
                    if (hasCname) break;
                    for (int i = 0; i < list.Count; i++)
                        if (list[i].Type == rr.Type && list[i].Name.Equals(rr.Name)) list[i] = list[i].WithTtl(rr.Ttl);
                    if (!list.Contains(rr)) list.Add(rr);
                    break;
                }
                case RrClass.ANY:
                    if (u.Type == RrType.ANY)
                        list.RemoveAll(c => c.Name.Equals(u.Name) && !(apex && c.Type is RrType.SOA or RrType.NS));
                    else if (!(apex && u.Type is RrType.SOA or RrType.NS))
                        list.RemoveAll(c => c.Name.Equals(u.Name) && c.Type == u.Type);
                    break;
                case RrClass.NONE:
                {
                    if (apex && u.Type == RrType.SOA) break;
                    var rr = DnsObjects.Normalize(new DnsRecord(u.Name, u.Type, RrClass.IN, 0, u.Data));
                    if (apex && u.Type == RrType.NS && list.Count(c => c.Type == RrType.NS && c.Name.Equals(zone)) <= 1) break;
                    list.RemoveAll(c => c.Equals(rr));
                    break;
                }
            }
        }
        return list;
    }
}
