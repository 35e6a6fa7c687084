using System.Buffers.Binary;
using System.Net;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Microsoft.Extensions.Logging;

namespace Dt.Dns.Server;

/// <summary>
/// AXFR (RFC 5936) and IXFR (RFC 1995) over TCP, to allowed addresses only. AXFR: SOA, every other record, SOA,
/// over as many messages as needed. IXFR: the SOA alone when the client is current; the kept diffs when the journal
/// reaches back to the client's serial; otherwise the whole zone in AXFR form (allowed by RFC 1995 §4).
/// </summary>
internal sealed class ZoneTransfer(ZoneStore store, DnsOptions options, TransferRules rules, Tsig tsig, ILogger log, TimeProvider time)
{
    private readonly LogLimiter _refusals = new(10, TimeSpan.FromMinutes(1), time);

    /// <summary>
    /// Answers an AXFR/IXFR over TCP. A TSIG on the request is checked first (a bad one: NOTAUTH with the TSIG
    /// error, RFC 8945 §5.2); then <see cref="TransferRules"/> decide (REFUSED when not allowed, logged at most 10
    /// lines a minute); a signed request gets every message of the transfer signed (RFC 8945 §5.3.1).
    /// </summary>
    public async Task WriteAsync(DnsMessage q, ReadOnlyMemory<byte> raw, IPAddress remote, Stream stream, DnsWriter w, QueryEngine engine, CancellationToken ct)
    {
        var question = q.Question!;
        var check = q.Tsig is null ? TsigCheck.Unsigned : tsig.Verify(q, raw.Span);
        var entry = store.Table.Get(question.Name);
        if (q.Tsig is not null && !check.Valid)
        {
            Refused(question, remote, $"TSIG {DnsMnemonics.RcodeName(check.Error)} (key {q.Tsig.Name})");
            engine.WriteError(w, q.Id, q.Flags, question, DnsRcode.NotAuth, q.Edns, tcp: true);
            await SendAsync(stream, tsig.Sign(w.ToArray(), check, q.Tsig.Name), ct);
            return;
        }
        if (entry is null)
        {
            engine.WriteError(w, q.Id, q.Flags, question, DnsRcode.NotAuth, q.Edns, tcp: true);
            await SendAsync(stream, w, q, check, ct);
            return;
        }
        if (rules.Refusal(remote, check.Valid ? check.Key!.Name : null) is { } why)
        {
            Refused(question, remote, why);
            engine.WriteError(w, q.Id, q.Flags, question, DnsRcode.Refused, q.Edns, tcp: true);
            await SendAsync(stream, w, q, check, ct);
            return;
        }
        if (entry.Snapshot is not { } zone)
        {
            engine.WriteError(w, q.Id, q.Flags, question, DnsRcode.ServFail, q.Edns, tcp: true);
            await SendAsync(stream, w, q, check, ct);
            return;
        }

        string kind = "AXFR";
        IEnumerable<DnsRecord> records;
        if (question.Type == RrType.IXFR)
        {
            if (q.Authority.FirstOrDefault(r => r.Type == RrType.SOA)?.Data is not SoaData client)
            {
                engine.WriteError(w, q.Id, q.Flags, question, DnsRcode.FormErr, q.Edns, tcp: true);
                await SendAsync(stream, w, q, check, ct);
                return;
            }
            if (client.Serial == zone.Serial || SerialNumber.Greater(client.Serial, zone.Serial))
            {
                kind = "IXFR (up to date)";
                records = [zone.Soa];
            }
            else if (Chain(entry, client.Serial, zone.Serial) is { } diffs)
            {
                kind = "IXFR";
                records = Incremental(zone, diffs);
            }
            else
            {
                kind = "IXFR (full)";
                records = Full(zone);
            }
        }
        else
        {
            records = Full(zone);
        }

        int messages = 0, count = 0;
        bool first = true;
        byte[] mac = [];
        // A signed transfer leaves room for the TSIG record in every message.
        int reserve = check.Valid ? Tsig.RecordSize(check.Key!.Name) : 0;
        using var e = records.GetEnumerator();
        bool has = e.MoveNext();
        while (first || has)
        {
            w.Reset(65535);
            w.SetLimit(Math.Min(options.TransferMessageSize, 65535 - reserve));
            ushort flags = (ushort)(DnsFlags.QR | DnsFlags.AA | (q.Flags & (DnsFlags.OpcodeMask | DnsFlags.RD | DnsFlags.CD)));
            w.WriteHeader(q.Id, flags, 0, 0, 0, 0);
            if (first)
            {
                w.TryWriteQuestion(question);
                w.SetCount(0, 1);
            }
            int inMessage = 0;
            while (has)
            {
                if (!w.TryWriteRecord(e.Current))
                {
                    if (inMessage > 0) break;
                    // One record larger than the target message size: give it a message of its own.
                    w.SetLimit(65535 - reserve);
                    if (!w.TryWriteRecord(e.Current)) throw new InvalidOperationException("a record does not fit in a DNS message");
                }
                inMessage++;
                has = e.MoveNext();
            }
            w.SetCount(1, inMessage);
            count += inMessage;
            messages++;
            if (!check.Valid) await SendAsync(stream, w, ct);
            else if (first) await SendAsync(stream, tsig.Sign(w.ToArray(), check, check.Key!.Name, out mac), ct);
            else await SendAsync(stream, tsig.SignNext(w.ToArray(), check.Key!, mac, out mac), ct);
            first = false;
        }
        DnsLog.TransferDone(log, kind, zone.Origin.ToString(), zone.Serial, remote.ToString(), count, messages);
    }

    private static IEnumerable<DnsRecord> Full(ZoneSnapshot zone)
    {
        foreach (var r in zone.Records) yield return r; // SOA first
        yield return zone.Soa;
    }

    private static IEnumerable<DnsRecord> Incremental(ZoneSnapshot zone, IReadOnlyList<ZoneDiff> diffs)
    {
        yield return zone.Soa;
        foreach (var d in diffs)
        {
            yield return d.OldSoa;
            foreach (var r in d.Removed) yield return r;
            yield return d.NewSoa;
            foreach (var r in d.Added) yield return r;
        }
        yield return zone.Soa;
    }

    /// <summary>The diffs leading from <paramref name="from"/> to <paramref name="to"/>, or null if the journal does not reach.</summary>
    internal static IReadOnlyList<ZoneDiff>? Chain(ZoneEntry entry, uint from, uint to)
    {
        var j = entry.Journal;
        int start = -1;
        for (int i = 0; i < j.Count; i++)
            if (j[i].FromSerial == from) { start = i; break; }
        if (start < 0) return null;
        var chain = new List<ZoneDiff>();
        uint at = from;
        for (int i = start; i < j.Count; i++)
        {
            if (j[i].FromSerial != at) return null;
            chain.Add(j[i]);
            at = j[i].ToSerial;
            if (at == to) return chain;
        }
        return null;
    }

    private void Refused(DnsQuestion question, IPAddress remote, string why)
    {
        if (_refusals.TryEnter(out long suppressed)) DnsLog.TransferRefused(log, question.Name.ToString(), remote.ToString(), why, suppressed);
    }

    /// <summary>Sends the writer's message, signed when the request was validly signed (errors too, RFC 8945 §5.3).</summary>
    private Task SendAsync(Stream stream, DnsWriter w, DnsMessage q, TsigCheck check, CancellationToken ct) =>
        check.Valid ? SendAsync(stream, tsig.Sign(w.ToArray(), check, q.Tsig!.Name), ct) : SendAsync(stream, w, ct);

    private static Task SendAsync(Stream stream, DnsWriter w, CancellationToken ct) => SendAsync(stream, w.WrittenMemory, ct);

    private static async Task SendAsync(Stream stream, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        var buffer = new byte[2 + message.Length];
        BinaryPrimitives.WriteUInt16BigEndian(buffer, (ushort)message.Length);
        message.Span.CopyTo(buffer.AsSpan(2));
        await stream.WriteAsync(buffer, ct);
    }
}
