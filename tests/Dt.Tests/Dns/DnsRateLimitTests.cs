using System.Net;
using System.Net.Sockets;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// Response rate limiting over real UDP sockets on loopback, with a clock that moves only when the test says (so the
/// buckets do not refill while a flood is under way): a flood from one /24 gets its one second's worth of answers,
/// then every second limited answer truncated (slip 2) and the rest dropped, while a client in another /24 is served;
/// the flooded prefix is served again a second later; an exempt range is never limited.
/// </summary>
public sealed class DnsRateLimitTests
{
    private const int Rate = 10;
    private const int Flood = 100;

    private static async Task<(TestCluster Cluster, DnsService Dns, ManualTime Time)> Start(Action<DnsOptions>? configure = null)
    {
        var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var time = new ManualTime();
        var options = DnsOptions.ForTests();
        options.RateLimitResponsesPerSecond = Rate;
        configure?.Invoke(options);
        var dns = new DnsService(master, options, Loggers, time);
        await dns.StartAsync(Ct);
        await dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
        return (cluster, dns, time);
    }

    private static Socket Client(string address, int port)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
        s.Connect(Local(port));
        return s;
    }

    private static byte[] QueryBytes(ushort id)
    {
        var q = new DnsMessage { Id = id };
        q.Questions.Add(new DnsQuestion(DnsName.Parse("www.example.test."), RrType.A));
        return q.ToWire();
    }

    private static async Task<DnsMessage> Receive(Socket s)
    {
        var buffer = new byte[2048];
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(5));
        int n = await s.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        return DnsMessage.Parse(buffer.AsSpan(0, n));
    }

    private static async Task<DnsMessage> Ask(Socket s, ushort id)
    {
        await s.SendAsync(QueryBytes(id), SocketFlags.None, Ct);
        return await Receive(s);
    }

    [Fact]
    public async Task A_flood_from_one_prefix_is_limited_with_slip_while_another_prefix_is_served()
    {
        var (cluster, dns, time) = await Start();
        await using var _ = cluster;
        await using var __ = dns;
        using var flooder = Client("127.0.0.1", dns.Port);
        using var other = Client("127.0.1.1", dns.Port);
        // The zone import answered nothing over UDP: every UDP NOERROR counted from here is an answer to the flood.
        for (int i = 0; i < Flood; i++) await flooder.SendAsync(QueryBytes((ushort)i), SocketFlags.None, Ct);
        await Eventually.Until(() => dns.RateLimited.Dropped + dns.Answered(false, DnsRcode.NoError) == Flood,
            "the server decided on every flooded query", TimeSpan.FromSeconds(15), Polling.Dns);

        Assert.Equal((Dropped: (long)(Flood - Rate) / 2, Slipped: (long)(Flood - Rate) / 2), dns.RateLimited);
        var answers = new List<DnsMessage>();
        for (int i = 0; i < Rate + (Flood - Rate) / 2; i++) answers.Add(await Receive(flooder));
        var full = answers.Where(a => !a.Flag(DnsFlags.TC)).ToList();
        var slipped = answers.Where(a => a.Flag(DnsFlags.TC)).ToList();
        Assert.Equal(Rate, full.Count);
        Assert.All(full, a => Assert.Equal("192.0.2.1", Assert.Single(a.Answers).Data.ToText()));
        Assert.Equal((Flood - Rate) / 2, slipped.Count);
        Assert.All(slipped, a => Assert.True(a.Answers.Count == 0 && a.Authority.Count == 0 && a.Question?.Name.ToString() == "www.example.test."));

        // Another /24 has its own bucket.
        for (int i = 0; i < Rate; i++)
        {
            var a = await Ask(other, (ushort)(1000 + i));
            Assert.False(a.Flag(DnsFlags.TC));
            Assert.Single(a.Answers);
        }

        // A second later the flooded prefix has a second's worth again; TCP was never limited.
        var tcp = await Query(dns.Port, "www.example.test", RrType.A, tcp: true);
        Assert.Single(tcp.Answers);
        time.Advance(TimeSpan.FromSeconds(1));
        var again = await Ask(flooder, 2000);
        Assert.False(again.Flag(DnsFlags.TC));
        Assert.Single(again.Answers);
    }

    [Fact]
    public async Task An_exempt_range_is_never_limited()
    {
        var (cluster, dns, _) = await Start(o => o.RateLimitExempt = ["127.0.0.0/24"]);
        await using var _c = cluster;
        await using var _d = dns;
        using var client = Client("127.0.0.1", dns.Port);
        for (int i = 0; i < 3 * Rate; i++)
        {
            var a = await Ask(client, (ushort)i);
            Assert.False(a.Flag(DnsFlags.TC));
            Assert.Single(a.Answers);
        }
        Assert.Equal((0L, 0L), dns.RateLimited);
    }

    [Fact]
    public void Bad_rate_limit_settings_are_named()
    {
        var o = DnsOptions.ForTests();
        o.RateLimitResponsesPerSecond = -1;
        o.RateLimitSlip = 11;
        o.RateLimitIPv4Prefix = 33;
        o.RateLimitIPv6Prefix = 8;
        o.RateLimitExempt = ["10.0.0.0/40"];
        o.RateLimitTableSize = 0;
        var errors = o.Validate();
        foreach (var name in new[] { "Dns:RateLimitResponsesPerSecond", "Dns:RateLimitSlip", "Dns:RateLimitIPv4Prefix", "Dns:RateLimitIPv6Prefix", "Dns:RateLimitExempt:0", "Dns:RateLimitTableSize" })
            Assert.Contains(errors, e => e.StartsWith(name + " ", StringComparison.Ordinal));
    }
}
