using System.Net;
using System.Net.Sockets;
using Dt.Hosting;
using Dt.Security;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

public sealed class SecurityTests
{
    [Fact]
    public async Task A_peer_with_the_wrong_key_is_refused_and_counted()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        await master.GetTable().AddObject(Json("""{"secret":1}"""));
        await using var intruders = new TestCluster(); // another key
        var intruder = await intruders.Start(peers: [master]);
        await Eventually.Until(() => master.Access.FailureCount(IPAddress.Loopback) >= 2, "the master counts the refusals for the intruder's IP");
        await Eventually.Until(() => master.Metrics.Refused(RefusalReason.WrongKey) >= 2, "the refusals are counted as wrong_key (dt.handshakes.refused)");
        Assert.Empty(master.Overlay.Links);
        Assert.Empty(intruder.Overlay.Links);
        Assert.Equal(0, Summary(intruder).Count);
        Assert.False(master.Access.IsBlocked(IPAddress.Loopback)); // loopback is never blocked by default
    }

    [Fact]
    public async Task A_peer_of_another_network_name_is_refused()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, configure: o => o.Network = "blue");
        var other = await cluster.Start(peers: [master], configure: o => o.Network = "green");
        await Eventually.Until(() => master.Access.FailureCount(IPAddress.Loopback) >= 2, "the refusals are counted");
        await Eventually.Until(() => master.Metrics.Refused(RefusalReason.WrongNetwork) >= 2, "as wrong_network (dt.handshakes.refused)");
        Assert.Empty(master.Overlay.Links);
        var same = await cluster.Start(peers: [master], configure: o => o.Network = "blue");
        await WaitLinked(same, master);
        Assert.DoesNotContain(master.Overlay.Links, l => l.RemoteNodeId == other.NodeId);
    }

    [Fact]
    public void Repeated_failures_block_an_address_for_a_time_and_ipv6_is_grouped_by_prefix()
    {
        var time = new ManualTime();
        var ac = new IpAccessControl(3, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(10), true, [], time);
        var blocked = new List<IPAddress>();
        ac.Blocked += (ip, _) => blocked.Add(ip);
        var a = IPAddress.Parse("2001:db8:1:2::10");
        var sameHost = IPAddress.Parse("2001:db8:1:2::99");
        Assert.False(ac.RecordFailure(a));
        Assert.False(ac.RecordFailure(sameHost));
        Assert.True(ac.RecordFailure(a));
        Assert.True(ac.IsBlocked(sameHost));
        Assert.False(ac.IsBlocked(IPAddress.Parse("2001:db8:1:3::10")));
        Assert.Single(blocked);
        time.Advance(TimeSpan.FromMinutes(11));
        Assert.False(ac.IsBlocked(a));

        // Failures outside the window do not add up.
        var v4 = IPAddress.Parse("192.0.2.7");
        ac.RecordFailure(v4);
        ac.RecordFailure(v4);
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.False(ac.RecordFailure(v4));
        Assert.False(ac.IsBlocked(v4));

        Assert.False(ac.RecordFailure(IPAddress.Loopback));
        Assert.False(ac.RecordFailure(IPAddress.Loopback));
        Assert.False(ac.RecordFailure(IPAddress.Loopback));
        Assert.False(ac.IsBlocked(IPAddress.Loopback));
    }

    [Fact]
    public async Task A_live_node_blocks_an_address_after_repeated_bad_handshakes_and_unblocks_it_later()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, configure: o =>
        {
            o.NeverBlockLoopback = false;
            o.IpFailureLimit = 3;
            o.IpBlockDuration = TimeSpan.FromSeconds(2);
        });
        var blocks = new List<IPAddress>();
        master.IpBlocked += (ip, _) => { lock (blocks) blocks.Add(ip); };
        await using var intruders = new TestCluster(); // another key
        var intruder = await intruders.Start(peers: [master]);
        await Eventually.Until(() => master.Access.IsBlocked(IPAddress.Loopback), "the address is blocked after 3 bad handshakes");
        await Eventually.Until(() => master.Metrics.Snapshot().IpBlocks >= 1, "the block is counted (dt.ip.blocks)");
        var stats = (await master.GetNode().GetInfo()).Stats!;
        Assert.True(stats.IpsBlockedNow == 1 || !master.Access.IsBlocked(IPAddress.Loopback), "dt.ip.blocked shows the address while it is blocked");
        lock (blocks) Assert.All(blocks, ip => Assert.Equal(IPAddress.Loopback, ip));
        await intruders.Stop(intruder);

        // While blocked, even a node with the right key is turned away; after the block it links.
        var honest = await cluster.Start(peers: [master]);
        await Eventually.Until(() => !master.Access.IsBlocked(IPAddress.Loopback), "the block expires");
        await WaitLinked(honest, master);
    }

    [Fact]
    public async Task Random_bytes_and_oversized_frames_thrown_at_the_port_do_not_hurt_the_node()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var rng = new Random(42);
        var ct = TestContext.Current.CancellationToken;
        for (int i = 0; i < 40; i++)
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, master.Port!.Value), ct);
            byte[] junk = new byte[rng.Next(1, 4096)];
            rng.NextBytes(junk);
            if (i % 4 == 0) { junk[0] = 0xFF; junk[1] = 0xFF; junk[2] = 0xFF; junk[3] = 0xFF; } // oversized length prefix
            if (i % 4 == 1 && junk.Length > 8) { junk[0] = 0; junk[1] = 0; junk[2] = 0; junk[3] = 73; junk[4] = 1; } // hello-sized junk
            try
            {
                await s.SendAsync(junk, ct);
                // The node closes the connection: reading ends with 0 bytes or a reset, never hangs past the handshake timeout.
                var buffer = new byte[8192];
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                while (await s.ReceiveAsync(buffer, timeout.Token) > 0) { }
            }
            catch (SocketException) { }
        }
        // Still serving: a real peer links and syncs.
        string h = await master.GetTable().AddObject(Json("""{"after":"fuzz"}"""));
        var node = await cluster.Start(peers: [master]);
        await Eventually.Until(() => Holds(node, h), "a real peer still links and syncs after the junk");
    }

    [Fact]
    public async Task Nodes_link_over_ipv6()
    {
        if (!Socket.OSSupportsIPv6) Assert.Skip("IPv6 is not available on this machine");
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, configure: o => o.ListenAddress = "::1");
        var node = await cluster.Start(configure: o => { o.ListenAddress = "::"; o.Peers.Add($"[::1]:{master.Port}"); });
        await WaitLinked(node, master);
        string h = await master.GetTable().AddObject(Json("""{"v6":true}"""));
        await Eventually.Until(() => Holds(node, h), "the object travels over IPv6");
    }

    [Fact]
    public async Task A_node_never_links_to_itself()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true);
        var self = await cluster.Start(configure: o => o.Port = 0);
        // Point the node at its own listener (as a NAT'd node might see its own public address).
        await self.Overlay.AddCandidateForTests(Address(self));
        await Eventually.Until(() => self.Overlay.Candidates().Any(c => c.IsSelf), "the node marks its own address as itself");
        Assert.Empty(self.Overlay.Links);
        Assert.NotNull(node);
    }

    [Fact]
    public void Invalid_options_name_every_bad_setting()
    {
        var o = new DtOptions { Key = "short", Port = 70000, Network = "bad name!", Peers = ["nohost"], PingInterval = TimeSpan.Zero };
        var errors = o.Validate();
        Assert.Contains(errors, e => e.StartsWith("Dt:Key"));
        Assert.Contains(errors, e => e.StartsWith("Dt:Port"));
        Assert.Contains(errors, e => e.StartsWith("Dt:Network"));
        Assert.Contains(errors, e => e.StartsWith("Dt:Peers:0"));
        Assert.Contains(errors, e => e.StartsWith("Dt:PingInterval"));
        var ex = Assert.Throws<DtConfigurationException>(() => DtNode.StartAsync(o).GetAwaiter().GetResult());
        Assert.Contains("Dt:Port", ex.Message);
        Assert.Empty(DtOptions.ForTests(NetworkKey.Generate().ToBase64()).Validate());
    }
}
