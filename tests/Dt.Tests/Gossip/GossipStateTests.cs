using System.Diagnostics;
using Dt.Gossip;
using Dt.Replication;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Engine.TestCluster;
using static Dt.Tests.Gossip.GossipKit;

namespace Dt.Tests.Gossip;

[Collection(nameof(GossipCollection))]
public sealed class GossipStateTests
{
    [Fact]
    public async Task A_thousand_keys_set_on_one_node_reach_all_ten_nodes()
    {
        await using var cluster = new TestCluster();
        var nodes = await cluster.StartTree(10, GossipOptions.Lan());
        await WaitAllLive(nodes);
        var writer = nodes[7]; // a leaf: its keys cross the root to reach the other branch
        var grain = writer.Grain();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 1000; i++) await grain.Set($"k{i}", Json($$"""{"i":{{i}}}"""));
        await Eventually.Until(() => nodes.All(n => n.G().Keys(writer.Name()).Count == 1000), "1,000 keys reach all 10 nodes");
        Print($"1,000 keys reached all 10 nodes (tree, LAN profile) in {sw.Elapsed.TotalMilliseconds:0} ms");
        var far = await nodes[9].Grain().GetRemote(writer.Name(), "k999");
        Assert.Equal(999, far!.Value.GetProperty("i").GetInt32());
        Assert.Equal(1000, far.Version);
        Assert.Equal(1000, (await nodes[9].Grain().GetRemoteKeys(writer.NodeId.ToString())).Count);
    }

    [Fact]
    public async Task Anti_entropy_alone_brings_a_late_joiner_every_node_s_keys()
    {
        await using var cluster = new TestCluster();
        var nodes = await cluster.StartTree(4, GossipOptions.ForTests());
        for (int n = 0; n < 4; n++)
            for (int i = 0; i < 300; i++) await nodes[n].Grain().Set($"n{n}.k{i}", Json($"\"{new string('x', 100)}\""));
        // Joins after the writes (no push reaches it): 1,200 keys of ~100 bytes, over the 64 KiB message budget.
        var sw = Stopwatch.StartNew();
        var late = await cluster.Start(GossipOptions.ForTests(), [nodes[3]]);
        await Eventually.Until(() => nodes.All(n => late.G().Keys(n.Name()).Count == 300), "the late joiner holds every node's keys");
        Print($"a late joiner pulled 1,200 keys of ~100 bytes (4 owners, 64 KiB budget per message) in {sw.ElapsedMilliseconds} ms from its start");
        await Eventually.Until(() => nodes.All(n => n.G().VersionVector().Count == 5), "every node knows the joiner");
    }

    [Fact]
    public async Task A_restarted_node_s_new_writes_win_over_its_previous_life()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var a = await cluster.Start(g);
        var b = await cluster.Start(g, [a]);
        var named = g.Clone();
        named.NodeName = "r";
        var r = await cluster.Start(named, [a]);
        await r.Grain().Set("k0", Json("\"old\""));
        for (int i = 1; i <= 20; i++) await r.Grain().Set($"k{i}", Json($"{i}"));
        await Eventually.Until(() => b.G().Keys("r").Count == 21 && a.G().Keys("r").Count == 21, "the first life's keys reach a and b");
        long oldGeneration = r.G().Generation;
        await cluster.Stop(r);

        var again = await cluster.Start(named, [a]);
        await again.Grain().Set("k0", Json("\"NEW\""));
        await again.Grain().Set("fresh", Json("true"));
        foreach (var n in new[] { a, b })
            await Eventually.Until(() => n.G().Get("r", "k0")?.Value.GetString() == "NEW" && n.G().Get("r", "fresh") is not null && n.G().Keys("r").Count == 2,
                "the new life's writes replace the old life's state");
        Assert.True(again.G().Generation > oldGeneration);
        // The restarted node never takes its previous life's state back, and peers never bring it back.
        await Eventually.Until(() => again.G().Peers(alive: true).Count == 2, "the restarted node sees both peers");
        // (and over later gossip rounds: GossipSimulationTests)
        Assert.Equal("NEW", (await again.Grain().Get("k0"))!.Value.GetString());
        Assert.Equal(["fresh", "k0"], await b.Grain().GetRemoteKeys("r"));
        var peer = (await b.Grain().AllPeers()).Single(p => p.Name == "r");
        Assert.Equal(PeerStatus.Alive, peer.Status);
        Assert.Equal(again.G().Generation, peer.Generation);
    }

    [Fact]
    public async Task A_ttl_key_expires_on_every_node_with_a_key_expired_event()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var nodes = await cluster.StartTree(4, g);
        await WaitAllLive(nodes);
        var expired = Collect(nodes[3].Grain().Watch(new StateWatch("lease.*"), TestContext.Current.CancellationToken), e => e.Type == GossipEventTypes.KeyExpired);
        var sw = Stopwatch.StartNew();
        await nodes[1].Grain().Set("lease.a", Json("1"), ttlMilliseconds: 800);
        await nodes[1].Grain().Set("stay", Json("2"));
        await Eventually.Until(() => nodes.All(n => n.G().Get(nodes[1].Name(), "lease.a") is not null), "the lease reaches every node");
        var remote = nodes[3].G().Get(nodes[1].Name(), "lease.a")!;
        Assert.NotNull(remote.ExpiresAt);
        // A node joining while the key lives gets what is left of its TTL, not a new one.
        var joiner = await cluster.Start(g, [nodes[2]]);
        await Eventually.Until(() => joiner.G().Get(nodes[1].Name(), "lease.a") is not null, "the joiner gets the lease", TimeSpan.FromMilliseconds(700));
        var atJoiner = joiner.G().Get(nodes[1].Name(), "lease.a")!;
        Assert.InRange((atJoiner.ExpiresAt!.Value - remote.ExpiresAt!.Value).TotalMilliseconds, -100, 300);
        await Eventually.Until(() => nodes.Append(joiner).All(n => n.G().Get(nodes[1].Name(), "lease.a") is null), "the lease expires everywhere");
        Print($"expired everywhere {sw.ElapsedMilliseconds} ms after a set with an 800 ms TTL");
        Assert.True(sw.ElapsedMilliseconds >= 780, $"the lease went after {sw.ElapsedMilliseconds} ms, before its TTL"); // the upper bound: GossipSimulationTests
        var e = await expired.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(("lease.a", nodes[1].Name()), (e.Key, e.Peer));
        Assert.All(nodes, n => Assert.NotNull(n.G().Get(nodes[1].Name(), "stay")));
        // A node joining after the expiry never sees the key.
        var late = await cluster.Start(g, [nodes[3]]);
        await Eventually.Until(() => late.G().Get(nodes[1].Name(), "stay") is not null, "the late joiner syncs");
        Assert.Null(late.G().Get(nodes[1].Name(), "lease.a"));
    }

    [Fact]
    public async Task Deletes_spread_and_watches_filter_keys_by_wildcard()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var nodes = await cluster.StartTree(3, g);
        await WaitAllLive(nodes);
        var changes = new List<StateChange>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var watching = Task.Run(async () =>
        {
            try { await foreach (var c in nodes[2].Grain().Watch(new StateWatch("dns.*"), cts.Token)) lock (changes) changes.Add(c); }
            catch (OperationCanceledException) { }
        }, TestContext.Current.CancellationToken);
        await Eventually.Until(() => nodes[2].Events.SubscriberCount > 0, "the watch is registered");
        var writer = nodes[1].Grain();
        await writer.Set("dns.a", Json("\"1.2.3.4\""));
        await writer.Set("other", Json("1"));
        await writer.Set("dns.example.com", Json("\"5.6.7.8\""));
        // Writes in a burst travel together and only the newest value of a key is sure to be seen everywhere, so
        // let these arrive before the delete.
        await Eventually.Until(() => nodes[2].G().Keys(nodes[1].Name()).Count == 3, "the sets reach the watcher's node");
        Assert.True(await writer.Delete("dns.a"));
        Assert.False(await writer.Delete("dns.a"));
        await Eventually.Until(() => { lock (changes) return changes.Count >= 3 || watching.IsCompleted; }, "three dns.* changes reach the watcher");
        if (watching.IsFaulted) await watching;
        await Eventually.Until(() => nodes.All(n => n.G().Get(nodes[1].Name(), "dns.a") is null && n.G().Keys(nodes[1].Name()).Count == 2), "the delete spreads");
        cts.Cancel();
        await watching;
        lock (changes)
        {
            Assert.Equal([(GossipEventTypes.StateSet, "dns.a"), (GossipEventTypes.StateSet, "dns.example.com"), (GossipEventTypes.StateDeleted, "dns.a")],
                changes.Select(c => (c.Type, c.Key)).ToArray());
            Assert.Equal("5.6.7.8", changes[1].Value!.Value.GetString());
        }
        // Own keys are watched only on request.
        var own = Collect(nodes[1].Grain().Watch(new StateWatch("dns.*", IncludeOwn: true), TestContext.Current.CancellationToken), _ => true);
        await writer.Set("dns.b", Json("2"));
        Assert.Equal("dns.b", (await own.WaitAsync(Deadline, TestContext.Current.CancellationToken)).Key);
    }

    [Fact]
    public async Task Bad_input_is_refused_with_a_clear_error()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(GossipOptions.ForTests());
        var grain = node.Grain();
        Assert.Equal(DtErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<DtException>(() => grain.Set("", Json("1")))).Code);
        Assert.Equal(DtErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<DtException>(() => grain.Set(new string('k', 300), Json("1")))).Code);
        Assert.Equal(DtErrorCodes.TooLarge, (await Assert.ThrowsAsync<DtException>(() => grain.Set("k", Json($"\"{new string('x', 70_000)}\"")))).Code);
        Assert.Equal(DtErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<DtException>(() => grain.Set("k", Json("1"), ttlMilliseconds: 0))).Code);
        Assert.Equal(DtErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<DtException>(() => grain.Say("", Json("1")))).Code);
        Assert.Null(await grain.GetRemote("nobody", "k"));
        Assert.Empty(await grain.GetRemoteKeys("nobody"));
        var bad = GossipOptions.ForTests();
        bad.Fanout = 0;
        bad.StateTombstoneRetention = TimeSpan.FromSeconds(1);
        var error = await Assert.ThrowsAsync<Dt.Hosting.DtConfigurationException>(() => Dt.Hosting.DtNode.StartAsync(Dt.Hosting.DtOptions.ForTests(cluster.Key), gossip: bad));
        Assert.Contains("Fanout", error.Message);
        Assert.Contains("StateTombstoneRetention", error.Message);
    }

    [Fact]
    public async Task A_peer_behind_forgotten_deletions_gets_the_owner_s_state_again_and_ends_exact()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        g.MaxKeysPerNode = 10;
        var a = await cluster.Start(g);
        var x = await cluster.Start(g, [a]);
        var p = await cluster.Start(g, [a]);
        for (int i = 0; i < 10; i++) await x.Grain().Set($"k{i}", Json($"{i}"));
        await Eventually.Until(() => p.G().Keys(x.Name()).Count == 10, "p holds x's keys");

        // Cut p off; meanwhile x deletes five keys, then writes five new ones: at its limit of 10 keys it drops the
        // five deletion markers, which p never saw.
        p.Overlay.Partition([a.NodeId, x.NodeId]);
        a.Overlay.Partition([p.NodeId]);
        for (int i = 0; i < 5; i++) Assert.True(await x.Grain().Delete($"k{i}"));
        for (int i = 0; i < 5; i++) await x.Grain().Set($"n{i}", Json($"{i}"));
        await Eventually.Until(() => a.G().Keys(x.Name()).Count == 10 && a.G().Get(x.Name(), "k0") is null, "a holds x's new state");

        p.Overlay.Partition([]);
        a.Overlay.Partition([]);
        string[] expected = ["k5", "k6", "k7", "k8", "k9", "n0", "n1", "n2", "n3", "n4"];
        await Eventually.Until(() => p.G().Keys(x.Name()).SequenceEqual(expected), "p holds exactly x's state again");
        Assert.Equal(a.G().VersionVector()[x.Name()], p.G().VersionVector()[x.Name()]);
    }

    /// <summary>The first item of a stream that matches, as a task (the subscription is registered before it returns).</summary>
    internal static Task<T> Collect<T>(IAsyncEnumerable<T> stream, Func<T, bool> match)
    {
        var e = stream.GetAsyncEnumerator(TestContext.Current.CancellationToken);
        var first = e.MoveNextAsync();
        return Task.Run(async () =>
        {
            try
            {
                if (!await first) throw new InvalidOperationException("stream ended");
                if (match(e.Current)) return e.Current;
                while (await e.MoveNextAsync())
                    if (match(e.Current)) return e.Current;
                throw new InvalidOperationException("stream ended");
            }
            finally
            {
                await e.DisposeAsync();
            }
        });
    }
}
