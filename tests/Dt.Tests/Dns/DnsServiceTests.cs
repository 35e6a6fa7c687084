using System.Net;
using System.Net.Sockets;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>The service's own guarantees: NOTIFY retries, TCP caps and idle timeout, two masters converging on one serial.</summary>
public sealed class DnsServiceTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Notify_is_resent_until_the_secondary_answers()
    {
        using var secondary = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)secondary.Client.LocalEndPoint!).Port;
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        await using var dns = await StartDns(master, o =>
        {
            o.Notify = [$"127.0.0.1:{port}"];
            o.NotifyRetryInterval = TimeSpan.FromMilliseconds(100);
        });
        var imported = await dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);

        // Ignore two NOTIFYs, answer the third.
        var ids = new List<ushort>();
        for (int i = 0; i < 3; i++)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            cts.CancelAfter(Deadline);
            var r = await secondary.ReceiveAsync(cts.Token);
            var m = DnsMessage.Parse(r.Buffer);
            Assert.Equal(DnsOpcode.Notify, m.Opcode);
            Assert.True(m.Flag(DnsFlags.AA));
            Assert.Equal(new DnsQuestion(DnsName.Parse("example.test."), RrType.SOA), m.Question);
            Assert.Equal(imported.Serial, ((SoaData)m.Answers[0].Data).Serial);
            ids.Add(m.Id);
            if (i < 2) continue;
            var ack = new DnsMessage { Id = m.Id, Flags = DnsFlags.QR };
            ack.Opcode = DnsOpcode.Notify;
            ack.SetFlag(DnsFlags.AA, true);
            ack.Questions.Add(m.Question!);
            await secondary.SendAsync(ack.ToWire(), r.RemoteEndPoint, Ct);
        }
        await Eventually.Until(() => Task.FromResult(dns.PendingNotifies == 0), "the answered NOTIFY is no longer pending", TimeSpan.FromSeconds(15), Polling.Dns);
        Assert.Equal(3, ids.Count);
    }

    [Fact]
    public async Task Tcp_connections_are_capped_and_idle_ones_closed()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        await using var dns = await StartDns(master, o =>
        {
            o.MaxTcpConnections = 2;
            o.TcpIdleTimeout = TimeSpan.FromMilliseconds(500);
        });
        await dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
        using var a = new TcpClient();
        using var b = new TcpClient();
        using var c = new TcpClient();
        await a.ConnectAsync(IPAddress.Loopback, dns.Port, Ct);
        await b.ConnectAsync(IPAddress.Loopback, dns.Port, Ct);
        await c.ConnectAsync(IPAddress.Loopback, dns.Port, Ct);
        // The third is closed by the server at once; the first two are closed after the idle timeout.
        Assert.Equal(0, await ReadOrClosed(c));
        Assert.Equal(0, await ReadOrClosed(a));
        Assert.Equal(0, await ReadOrClosed(b));
        // Afterwards new connections are served again (the count went back down).
        await Eventually.Until(async () => (await Query(dns.Port, "www.example.test.", RrType.A, tcp: true)).Answers.Count == 1, "TCP answers again", TimeSpan.FromSeconds(15), Polling.Dns);
    }

    private static async Task<int> ReadOrClosed(TcpClient client)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(Deadline);
        try
        {
            return await client.GetStream().ReadAsync(new byte[16], cts.Token);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    [Fact]
    public async Task Transfers_and_unsigned_updates_follow_the_address_lists()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        await using var closed = await StartDns(master, o =>
        {
            o.TransferAllow = [];
            o.UpdateAllow = ["127.0.0.1"];
        });
        await closed.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
        var axfr = await Dig(closed.Port, "example.test", "AXFR");
        Assert.Contains("Transfer failed", axfr.Out);
        Assert.DoesNotContain("192.0.2.1", axfr.Out);

        string nsupdate = RequireTool("nsupdate");
        var add = await Run(nsupdate, [], $"server 127.0.0.1 {closed.Port}\nzone example.test\nupdate add byaddress.example.test 60 A 192.0.2.31\nsend\n");
        Assert.True(add.Exit == 0, add.Out + add.Err);
        Assert.Single((await Query(closed.Port, "byaddress.example.test.", RrType.A)).Answers);
    }

    [Fact]
    public async Task Ixfr_sends_the_journal_diff_or_the_whole_zone()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        await using var dns = await StartDns(master, o => o.IxfrJournalSize = 2);
        var v1 = await dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
        var v2 = await dns.Editor.AddRecordAsync(Zone, "i1 60 IN A 192.0.2.41", Ct);
        var v3 = await dns.Editor.RemoveRecordAsync(Zone, "mail A", Ct);
        var v4 = await dns.Editor.AddRecordAsync(Zone, "i2 60 IN A 192.0.2.42", Ct);
        Assert.Equal([v1.Serial + 1, v1.Serial + 2, v1.Serial + 3], new[] { v2.Serial, v3.Serial, v4.Serial });

        // From v2: two diffs (v2->v3 removes mail, v3->v4 adds i2), framed by the current SOA.
        var fromV2 = await Dig(dns.Port, "example.test", $"IXFR={v2.Serial}", "+nocmd", "+nostats");
        var ixfr = AnswerLines(fromV2.Out);
        var soas = ixfr.Where(l => l.Contains(" SOA ")).ToList();
        // dig's own words when it is not the expected diff (it failed once in a loaded full run with no answer at all).
        Assert.True(soas.Count == 6, $"IXFR from {v2.Serial}: {soas.Count} SOA lines; dig exit {fromV2.Exit}:\n{fromV2.Out}\n{fromV2.Err}");
        Assert.Equal(8, ixfr.Count);
        Assert.Contains("mail.example.test. IN A 192.0.2.25", ixfr);
        Assert.Contains("i2.example.test. IN A 192.0.2.42", ixfr);

        // From v1 the journal (2 diffs) does not reach: the whole zone, AXFR-style.
        var full = AnswerLines((await Dig(dns.Port, "example.test", $"IXFR={v1.Serial}", "+nocmd", "+nostats")).Out);
        Assert.Equal(2, full.Count(l => l.Contains(" SOA ")));
        Assert.Contains("www.example.test. IN A 192.0.2.1", full);
        Assert.Contains("i1.example.test. IN A 192.0.2.41", full);

        // Up to date: the SOA alone.
        Assert.Single(AnswerLines((await Dig(dns.Port, "example.test", $"IXFR={v4.Serial}", "+nocmd", "+nostats")).Out));
    }

    [Fact]
    public async Task Two_masters_changing_a_zone_at_once_converge_on_one_serial_with_both_changes()
    {
        await using var cluster = new TestCluster();
        var m1 = await cluster.Start(master: true);
        var m2 = await cluster.Start(master: true, peers: [m1]);
        var n3 = await cluster.Start(peers: [m2]);
        await using var d1 = await StartDns(m1);
        await using var d2 = await StartDns(m2);
        await using var d3 = await StartDns(n3);
        await TestCluster.WaitLinked(m2, m1);
        await TestCluster.WaitLinked(n3, m2);
        var apex = DnsName.Parse("example.test.");
        var first = await d1.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
        await Eventually.Until(() => Task.FromResult(d2.Zones.Table.Get(apex)?.Snapshot?.Serial == first.Serial), "the second master serves the zone", Deadline, Polling.Dns);

        await Task.WhenAll(d1.Editor.AddRecordAsync(Zone, "one 60 IN A 192.0.2.101", Ct), d2.Editor.AddRecordAsync(Zone, "two 60 IN A 192.0.2.102", Ct));

        DnsService[] all = [d1, d2, d3];
        await Eventually.Until(async () =>
        {
            var serials = new HashSet<uint>();
            foreach (var d in all)
            {
                if ((await Query(d.Port, "one.example.test.", RrType.A)).Answers.Count != 1) return false;
                if ((await Query(d.Port, "two.example.test.", RrType.A)).Answers.Count != 1) return false;
                serials.Add(d.Zones.Table.Get(apex)!.Snapshot!.Serial);
            }
            return serials.Count == 1;
        }, "all nodes serve both records under one serial", Deadline, Polling.Dns);
        var snapshots = all.Select(d => d.Zones.Table.Get(apex)!.Snapshot!).ToList();
        Assert.Single(snapshots.Select(s => s.Digest).Distinct());
        Assert.True(SerialNumber.Greater(snapshots[0].Serial, first.Serial));
    }
}
