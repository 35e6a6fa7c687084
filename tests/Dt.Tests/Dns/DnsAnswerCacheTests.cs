using System.Net.Sockets;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// The UDP answer cache: a repeated question gets byte for byte the answer the full path gives (with its own id and
/// RD bit), EDNS variants are kept apart, and a zone change is answered at once (the cache is per zone version).
/// One receiver, so every query goes to the same thread's cache.
/// </summary>
public sealed class DnsAnswerCacheTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;
    private DnsService _dns = null!;
    private DnsService _uncached = null!;

    public async ValueTask InitializeAsync()
    {
        _cluster = new TestCluster();
        var master = await _cluster.Start(master: true);
        _dns = await StartDns(master, o => o.UdpReceivers = 1);
        _uncached = await StartDns(master, o => { o.UdpReceivers = 1; o.AnswerCacheSize = 0; });
        await _dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
        await Eventually.Until(async () => (await Query(_uncached.Port, "www.example.test", RrType.A)).Answers.Count == 1, "the second server serves the zone", TimeSpan.FromSeconds(15), Polling.Dns);
    }

    public async ValueTask DisposeAsync()
    {
        await _uncached.DisposeAsync();
        await _dns.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Repeated_questions_get_the_same_bytes_as_the_full_path_with_their_own_id_and_flags()
    {
        var cases = new List<DnsMessage>();
        foreach (var (name, type) in new[] { ("www.example.test", RrType.A), ("WwW.ExAmple.TEST", RrType.A), ("example.test", RrType.MX),
                     ("nope.example.test", RrType.A), ("big.example.test", RrType.TXT), ("elsewhere.invalid", RrType.A), ("x.wild.example.test", RrType.TXT) })
        {
            var plain = new DnsMessage { Id = 1 };
            plain.Questions.Add(new DnsQuestion(DnsName.Parse(name), type));
            cases.Add(plain);
            var edns = new DnsMessage { Id = 2, Edns = EdnsInfo.Default(4096) };
            edns.Questions.Add(new DnsQuestion(DnsName.Parse(name), type));
            cases.Add(edns);
            var dnssec = new DnsMessage { Id = 3, Edns = EdnsInfo.Default(1232) with { DnssecOk = true } };
            dnssec.Questions.Add(new DnsQuestion(DnsName.Parse(name), type));
            cases.Add(dnssec);
        }
        foreach (var q in cases)
        {
            byte[] expected = await RawUdp(_uncached.Port, q.ToWire());
            for (int i = 0; i < 3; i++)
            {
                q.Id = (ushort)(100 + i);
                q.SetFlag(DnsFlags.RD, i == 1);
                var want = (byte[])expected.Clone();
                want[0] = (byte)(q.Id >> 8);
                want[1] = (byte)q.Id;
                want[2] = (byte)((want[2] & ~(DnsFlags.RD >> 8)) | (i == 1 ? DnsFlags.RD >> 8 : 0));
                Assert.Equal(want, await RawUdp(_dns.Port, q.ToWire()));
            }
        }
        // The truncated answer to a client without EDNS stays truncated (and is not mixed up with the EDNS one).
        var big = DnsMessage.Parse(await RawUdp(_dns.Port, cases[12].ToWire()));
        Assert.True(big.Flag(DnsFlags.TC));
        Assert.False(DnsMessage.Parse(await RawUdp(_dns.Port, cases[13].ToWire())).Flag(DnsFlags.TC));
    }

    [Fact]
    public async Task A_changed_record_is_answered_at_once_not_from_the_cache()
    {
        var q = new DnsMessage { Id = 9 };
        q.Questions.Add(new DnsQuestion(DnsName.Parse("new.example.test"), RrType.A));
        for (int i = 0; i < 2; i++) Assert.Equal(DnsRcode.NXDomain, DnsMessage.Parse(await RawUdp(_dns.Port, q.ToWire())).Rcode);
        await _dns.Editor.AddRecordAsync(Zone, "new 300 IN A 192.0.2.200", Ct); // returns once the change is served here
        var r = DnsMessage.Parse(await RawUdp(_dns.Port, q.ToWire()));
        Assert.Equal(DnsRcode.NoError, r.Rcode);
        Assert.Equal("192.0.2.200", Assert.Single(r.Answers).Data.ToText());
    }

    private static async Task<byte[]> RawUdp(int port, byte[] packet)
    {
        using var udp = new UdpClient();
        udp.Connect(Local(port));
        await udp.SendAsync(packet, Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(2000);
        return (await udp.ReceiveAsync(cts.Token)).Buffer;
    }
}
