using System.Diagnostics;
using Dt.Gossip;
using Dt.Hosting;
using Xunit;
using static Dt.Tests.Simulation.SimKit;

namespace Dt.Tests.Simulation;

/// <summary>
/// Shared maps on the in-memory network with a driven clock: a node that comes back after a deletion, with what it
/// held, loses the deleted key and never spreads it, and "never" is checked at every step of a stretch of the
/// network's time, so it cannot pass because too little time went by.
/// </summary>
[Collection(nameof(SimulationCollection))]
public sealed class MapSimulationTests
{
    private static string Digest(DtNode n, string map) => n.Maps.Info(map).Digest;

    private static bool SameMap(IReadOnlyList<DtNode> nodes, string map) => nodes.All(n => Digest(n, map) == Digest(nodes[0], map));

    private static bool NoneHolds(IEnumerable<DtNode> nodes, string map, string key) => nodes.All(n => n.Maps.Get(map, key) is null);

    /// <summary>a, b and c (c dialing b, b dialing a, c on a store that outlives it); a writes "gone" and "kept", which reach c; then c stops.</summary>
    private static async Task<(DtNode A, DtNode B, DtNode C, NodeStore Store)> ThreeNodesAndAStoppedOne(SimulatedCluster sim, GossipOptions g)
    {
        var a = await sim.Start(gossip: g);
        var b = await sim.Start(peers: [a], gossip: g);
        var store = new NodeStore();
        var c = await sim.Start(peers: [b], gossip: g, store: store);
        await a.Map("m").Set("gone", Json("\"old\""));
        await a.Map("m").Set("kept", Json("1"));
        await sim.RunUntil(() => c.Maps.Get("m", "gone") is not null && c.Maps.Get("m", "kept") is not null, "the keys reach c", TimeSpan.FromSeconds(10));
        await sim.Stop(c);
        return (a, b, c, store);
    }

    /// <summary>
    /// Restarts c on its host with its store while it cannot reach anyone, checks that it came back holding
    /// "gone", then lets it reach the others and waits until it is ready and holds their map.
    /// </summary>
    private static async Task<DtNode> ComeBack(SimulatedCluster sim, GossipOptions g, DtNode a, DtNode b, DtNode c, NodeStore store)
    {
        var host = sim.HostOf(c);
        sim.Network.Partition([host], [sim.HostOf(a), sim.HostOf(b)]);
        var again = await sim.Start(peers: [b], gossip: g, store: store, host: host);
        // Not vacuous: the node does come back with the deleted key, so losing it is the sync's doing.
        Assert.NotNull(again.Maps.Get("m", "gone"));
        sim.Network.Heal();
        await sim.RunUntil(() => again.Maps.IsReady, "the node that came back is ready", TimeSpan.FromSeconds(10));
        return again;
    }

    [Fact]
    public async Task A_node_offline_while_a_key_was_deleted_loses_it_when_it_comes_back_and_never_spreads_it()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 21);
        var g = GossipOptions.ForTests();
        var (a, b, c, store) = await ThreeNodesAndAStoppedOne(sim, g);

        var deleted = Collect(b.Map("m").Watch(new MapWatch(), TestContext.Current.CancellationToken), x => x.Type == GossipEventTypes.MapDelete);
        Assert.True(await a.Map("m").Delete("gone"));
        await a.Map("m").Set("added", Json("2"));
        await sim.RunUntil(() => deleted.IsCompleted, "b sees the deletion", TimeSpan.FromSeconds(5));
        var delete = await deleted;
        Assert.Equal(("gone", "old"), (delete.Key, delete.OldValue!.Value.GetString()));

        // c comes back with what it held (the deleted key included) and must lose it, not spread it.
        var again = await ComeBack(sim, g, a, b, c, store);
        Assert.Null(again.Maps.Get("m", "gone"));
        Assert.NotNull(again.Maps.Get("m", "added"));
        await sim.RunUntil(() => SameMap([a, b, again], "m"), "every node holds the same map 'm'", TimeSpan.FromSeconds(10));
        // At every step of 5 map sync intervals (each node reconciling with every other), no node holds the key again.
        await sim.RunFor(g.MapSyncInterval * 5, () => NoneHolds([a, b, again], "m", "gone"), "the deleted key stays gone everywhere");
        Assert.Equal(["added", "kept"], (await again.Map("m").List(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken)).Select(e => e.Key));
        Print($"{sim.Elapsed.TotalSeconds:0.00} s driven, {wall.ElapsedMilliseconds} ms wall");
    }

    [Fact]
    public async Task A_node_offline_longer_than_the_tombstone_retention_drops_its_copy_and_does_not_resurrect_the_deleted_key()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 22);
        var g = GossipOptions.ForTests();
        g.MapTombstoneRetention = TimeSpan.FromSeconds(1);
        var (a, b, c, store) = await ThreeNodesAndAStoppedOne(sim, g);
        Assert.True(await a.Map("m").Delete("gone"));
        var deletedAt = sim.Elapsed;
        // The deletion is forgotten everywhere once older than the retention (1 s; a few sync intervals on top).
        await sim.RunUntil(() => b.Maps.Get("m", "gone") is null && a.Maps.Markers("m") == 0 && b.Maps.Markers("m") == 0,
            "the tombstone is collected on a and b", g.MapTombstoneRetention + g.MapSyncInterval * 5);
        Assert.True(sim.Elapsed - deletedAt >= g.MapTombstoneRetention, $"the tombstone was collected {(sim.Elapsed - deletedAt).TotalMilliseconds:0} ms after the deletion, before its retention");

        var again = await ComeBack(sim, g, a, b, c, store);
        await sim.RunUntil(() => SameMap([a, b, again], "m"), "every node holds the same map 'm'", TimeSpan.FromSeconds(10));
        await sim.RunFor(g.MapSyncInterval * 5, () => NoneHolds([a, b, again], "m", "gone"), "the deleted key stays gone everywhere");
        Assert.Equal(["kept"], (await again.Map("m").List(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken)).Select(e => e.Key));
        Print($"{sim.Elapsed.TotalSeconds:0.00} s driven, {wall.ElapsedMilliseconds} ms wall");
    }
}
