using System.Diagnostics.Metrics;
using Dt.Dns.Wire;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>dt.dns.queries: every answer counted by protocol and response code, on the meter "Dt".</summary>
public sealed class DnsMetricsTests
{
    [Fact]
    public async Task Answers_are_counted_by_protocol_and_rcode_on_the_Dt_meter()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        await using var dns = await StartDns(master);
        await dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);

        Assert.Equal(DnsRcode.NoError, (await Query(dns.Port, "www.example.test", RrType.A)).Rcode);
        Assert.Equal(DnsRcode.NoError, (await Query(dns.Port, "www.example.test", RrType.AAAA)).Rcode);
        Assert.Equal(DnsRcode.NXDomain, (await Query(dns.Port, "nope.example.test", RrType.A, tcp: true)).Rcode);
        Assert.Equal(DnsRcode.Refused, (await Query(dns.Port, "elsewhere.invalid", RrType.A)).Rcode);

        Assert.Equal((2L, 1L, 1L, 0L), (dns.Answered(false, DnsRcode.NoError), dns.Answered(true, DnsRcode.NXDomain),
            dns.Answered(false, DnsRcode.Refused), dns.Answered(true, DnsRcode.NoError)));

        // The same counts through a listener of the meter, as an exporter sees them (this node's only).
        var seen = new Dictionary<(string, string), long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Dt" && instrument.Name == "dt.dns.queries") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var t = tags.ToArray().ToDictionary(kv => kv.Key, kv => kv.Value as string);
            if (t["dt.node"] == master.NodeId.ToString()) lock (seen) seen[(t["protocol"]!, t["rcode"]!)] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        lock (seen)
            Assert.Equal(new Dictionary<(string, string), long> { [("udp", "noerror")] = 2, [("tcp", "nxdomain")] = 1, [("udp", "refused")] = 1 }, seen);
    }
}
