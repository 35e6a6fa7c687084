using System.Diagnostics.Metrics;
using Dt.Dns.Wire;

namespace Dt.Dns.Server;

/// <summary>
/// The DNS server's instrument on the meter "Dt": <c>dt.dns.queries</c>, responses sent, tagged <c>protocol</c>
/// (udp, tcp) and <c>rcode</c> (the header's 4-bit RCODE, lower case: noerror, nxdomain, refused, ...), plus
/// <c>dt.node</c>. Counting is an <see cref="Interlocked"/> increment per response; the tag lists are built once.
/// AXFR/IXFR streams are not counted.
/// </summary>
internal sealed class DnsMetrics : IDisposable
{
    private static readonly string[] Protocols = ["udp", "tcp"];

    private readonly Meter _meter;
    private readonly long[] _counts = new long[2 * 16];
    private readonly KeyValuePair<string, object?>[][] _tags = new KeyValuePair<string, object?>[2 * 16][];

    public DnsMetrics(string nodeId)
    {
        var node = new KeyValuePair<string, object?>("dt.node", nodeId);
        for (int p = 0; p < 2; p++)
            for (int r = 0; r < 16; r++)
                _tags[p * 16 + r] = [node, new("protocol", Protocols[p]), new("rcode", DnsMnemonics.RcodeName((DnsRcode)r).ToLowerInvariant())];
        _meter = new Meter(DtMeter, "1.0");
        _meter.CreateObservableCounter("dt.dns.queries", Observe, "{query}", "DNS requests answered, by protocol and response code");
    }

    /// <summary>The name of the meter (the engine's DtMetrics.MeterName; Dt.Dns does not reference the engine).</summary>
    public const string DtMeter = "Dt";

    /// <summary>Counts a response about to be sent.</summary>
    public void Answered(bool tcp, ReadOnlySpan<byte> response)
    {
        int rcode = response.Length >= 4 ? response[3] & 0x0F : (int)DnsRcode.ServFail;
        Interlocked.Increment(ref _counts[(tcp ? 16 : 0) + rcode]);
    }

    /// <summary>Responses sent so far with this protocol and header RCODE.</summary>
    public long Count(bool tcp, DnsRcode rcode) => Interlocked.Read(ref _counts[(tcp ? 16 : 0) + ((int)rcode & 0x0F)]);

    private IEnumerable<Measurement<long>> Observe()
    {
        var list = new List<Measurement<long>>();
        for (int i = 0; i < _counts.Length; i++)
            if (Interlocked.Read(ref _counts[i]) is var n and > 0) list.Add(new Measurement<long>(n, _tags[i]));
        return list;
    }

    public void Dispose() => _meter.Dispose();
}
