using Dt.Overlay;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

public sealed class OverlayTests
{
    [Fact]
    public async Task A_node_learns_distant_nodes_and_fails_over_to_them_when_its_peer_dies()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var relay = await cluster.Start(peers: [master]);
        var leaf = await cluster.Start(peers: [relay]); // joins through one node only
        await WaitLinked(leaf, relay);
        await Eventually.Until(() => leaf.Overlay.Candidates().Any(c => c.NodeId == master.NodeId), "the leaf learns of the master two hops away");

        await cluster.Stop(relay);
        await WaitLinked(leaf, master);
        string h = await master.GetTable().AddObject(Json("""{"after":"failover"}"""));
        await Eventually.Until(() => Holds(leaf, h), "the leaf gets changes over its new link");
        // The master may have bridged to the leaf first (it heard of the leaf only through the relay); the leaf then
        // takes that link as its primary on its next maintenance tick instead of dialing a second one.
        await Eventually.Until(() => leaf.Overlay.PrimaryNode == master.NodeId, "the leaf makes the master its primary");
    }

    [Fact]
    public async Task Node_tests_measure_round_trips_of_candidates_that_are_not_linked()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var relay = await cluster.Start(peers: [master]);
        // One outbound link at most: the leaf cannot bridge to the master, so the master stays a candidate to test.
        var leaf = await cluster.Start(peers: [relay], configure: o => o.MaxOutboundLinks = 1);
        await Eventually.Until(() => leaf.Overlay.Candidates().Any(c => c.NodeId == master.NodeId && c.Rtt.Count >= leaf.Options.RttSamples),
            "the leaf tests the distant master with a full set of pings");
        var tested = leaf.Overlay.Candidates().Single(c => c.NodeId == master.NodeId);
        Assert.InRange(tested.Rtt.Average!.Value, 0, 1000);
        Assert.Equal(0, tested.Failures);
    }

    [Fact]
    public async Task A_lost_link_is_re_established()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var node = await cluster.Start(peers: [master]);
        await WaitLinked(node, master);
        var first = node.Overlay.Links.Single();
        first.Close("cut by the test");
        await Eventually.Until(() => node.Overlay.Links.Any(l => l.RemoteNodeId == master.NodeId && l.Id != first.Id), "the node re-links");
        string h = await master.GetTable().AddObject(Json("""{"relinked":true}"""));
        await Eventually.Until(() => Holds(node, h), "changes flow over the new link");
    }

    [Fact]
    public async Task Fragments_that_lost_each_other_join_again()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var a = await cluster.Start(peers: [master]);
        var b = await cluster.Start(peers: [a]);
        await WaitLinked(b, a);
        // a's primary moves to b (as a better-primary switch into its own subtree would do): {a, b} is then a fragment.
        await Partition([a, b], [master]);
        string h = await master.GetTable().AddObject(Json("""{"fragment":1}"""));
        Assert.False(Holds(b, h));
        Heal([a, b, master]);
        await Eventually.Until(() => Holds(b, h), "the fragments join and the change arrives");
    }

    [Fact]
    public void Peer_addresses_parse_ipv4_ipv6_and_names()
    {
        Assert.True(PeerAddress.TryParse("127.0.0.1:9700", out var v4));
        Assert.Equal(("127.0.0.1", 9700), (v4.Host, v4.Port));
        Assert.True(PeerAddress.TryParse("[::1]:9700", out var v6));
        Assert.Equal(("::1", 9700), (v6.Host, v6.Port));
        Assert.Equal("[::1]:9700", v6.ToString());
        Assert.True(PeerAddress.TryParse("node-1.example:80", out var name));
        Assert.Equal("node-1.example", name.Host);
        foreach (var bad in new[] { "", "host", "::1:9700", "[::1]9700", "h:0", "h:70000", "h:-1", "[nothost]:1", "a b:1" })
            Assert.False(PeerAddress.TryParse(bad, out _), bad);
    }
}
