using System.Diagnostics;
using System.Text.Json;
using Dt.Gossip;
using Dt.Hosting;
using Dt.Replication;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Engine.TestCluster;
using static Dt.Tests.Gossip.GossipKit;

namespace Dt.Tests.Gossip;

[Collection(nameof(GossipCollection))]
public sealed class MapTests
{
    private static string Digest(DtNode n, string map) => n.M().Info(map).Digest;

    private static Task WaitSameMap(IReadOnlyList<DtNode> nodes, string map) =>
        Eventually.Until(() => nodes.All(n => Digest(n, map) == Digest(nodes[0], map)), $"every node holds the same map '{map}'");

    [Fact]
    public async Task The_first_node_of_a_map_is_ready_at_once_and_a_joiner_after_its_first_sync()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var first = await cluster.Start(g);
        var map = first.Map("config");
        Assert.True(await map.IsReady());
        await map.WaitReady(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMilliseconds(1), TestContext.Current.CancellationToken);
        for (int i = 0; i < 500; i++) await map.Set($"k{i}", Json($"{i}"));

        var joiner = await cluster.Start(g, [first]);
        var sw = Stopwatch.StartNew();
        await joiner.Map("config").WaitReady(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Print($"joiner ready with 500 entries {sw.ElapsedMilliseconds} ms after start");
        // Ready means it holds everything the peer had at the sync.
        Assert.Equal(500, (await joiner.Map("config").GetInfo()).Count);
        Assert.Equal(Digest(first, "config"), Digest(joiner, "config"));
        // A map nobody wrote yet is ready at once on a synced node, too.
        Assert.True(await joiner.Map("brand-new").IsReady());
    }

    [Fact]
    public async Task Two_nodes_writing_the_same_keys_concurrently_end_with_the_same_values_everywhere()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var nodes = await cluster.StartTree(5, g);
        await WaitAllLive(nodes);
        var writers = new[] { nodes[3], nodes[4] }; // leaves of different branches
        await Task.WhenAll(writers.Select((w, i) => Task.Run(async () =>
        {
            var m = w.Map("race");
            for (int round = 0; round < 20; round++)
                for (int k = 0; k < 50; k++) await m.Set($"k{k}", Json($$"""{"writer":{{i}},"round":{{round}}}"""));
            for (int k = 0; k < 10; k++) await m.Delete($"k{k}");
        }, TestContext.Current.CancellationToken)));
        await WaitSameMap(nodes, "race");
        var reference = await nodes[0].Map("race").List(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken);
        foreach (var n in nodes)
        {
            var entries = await n.Map("race").List(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken);
            Assert.Equal(reference.Select(e => (e.Key, e.Value.GetRawText(), e.Writer, e.Written)), entries.Select(e => (e.Key, e.Value.GetRawText(), e.Writer, e.Written)));
        }
        // Both writers deleted k0..k9 last, so those are gone; every other key holds one writer's last round.
        Assert.Equal(40, reference.Count);
        Assert.All(reference, e => Assert.Equal(19, e.Value.GetProperty("round").GetInt32()));
        // The winner of each key is the write with the greatest (clock, writer) on every node: check one directly.
        var k20 = reference.Single(e => e.Key == "k20");
        Assert.Contains(k20.Writer, writers.Select(w => w.M().WriterId.ToString()));
    }

    [Fact]
    public async Task A_node_offline_while_a_key_was_deleted_does_not_resurrect_it()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var a = await cluster.Start(g);
        var b = await cluster.Start(g, [a]);
        var store = new NodeStore();
        var c = await cluster.Start(g, [b], store: store);
        await a.Map("m").Set("gone", Json("\"old\""));
        await a.Map("m").Set("kept", Json("1"));
        await Eventually.Until(() => c.M().Get("m", "gone") is not null && c.M().Get("m", "kept") is not null, "the keys reach c");
        await cluster.Stop(c);

        var deleted = GossipStateTests.Collect(b.Map("m").Watch(new MapWatch(), TestContext.Current.CancellationToken), x => x.Type == GossipEventTypes.MapDelete);
        Assert.True(await a.Map("m").Delete("gone"));
        await a.Map("m").Set("added", Json("2"));
        var delete = await deleted.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(("gone", "old"), (delete.Key, delete.OldValue!.Value.GetString()));

        // c comes back with what it held (the deleted key included) and must lose it, not spread it.
        var again = await cluster.Start(g, [b], store: store);
        await again.Map("m").WaitReady(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Null(again.M().Get("m", "gone"));
        Assert.NotNull(again.M().Get("m", "added"));
        await WaitSameMap([a, b, again], "m");
        // That it never comes back over later syncs is checked on the driven clock (MapSimulationTests).
        Assert.All(new[] { a, b, again }, n => Assert.Null(n.M().Get("m", "gone")));
        Assert.Equal(["added", "kept"], (await again.Map("m").List(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken)).Select(e => e.Key));
    }

    [Fact]
    public async Task Map_events_carry_the_value_and_the_old_value_and_a_later_write_wins_over_skewed_clocks()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var a = await cluster.Start(g);
        var b = await cluster.Start(g, [a]);
        await Eventually.Until(() => b.M().IsReady, "b is ready");
        var changes = new List<MapChange>();
        var watching = GossipStateTests.Collect(b.Map("cfg").Watch(new MapWatch(IncludeExisting: true), TestContext.Current.CancellationToken),
            x => { lock (changes) changes.Add(x); return changes.Count == 4; });
        await a.Map("cfg").Set("mode", Json("\"fast\""));
        await Eventually.Until(() => b.M().Get("cfg", "mode") is not null, "the set reaches b");
        // b writes after seeing a's write: it wins even though nothing forces b's wall clock to be later.
        await b.Map("cfg").Set("mode", Json("\"safe\""));
        await Eventually.Until(() => a.M().Get("cfg", "mode")?.Value.GetString() == "safe", "b's later write wins at a");
        Assert.True(await a.Map("cfg").Delete("mode"));
        await watching.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        lock (changes)
        {
            // The map is new to b (which is synced already), so it is ready at once, before its first entry.
            Assert.Equal([GossipEventTypes.MapReady, GossipEventTypes.MapSet, GossipEventTypes.MapSet, GossipEventTypes.MapDelete], changes.Select(x => x.Type));
            Assert.Equal("fast", changes[1].Value!.Value.GetString());
            Assert.Equal("safe", changes[2].Value!.Value.GetString());
            Assert.Equal("safe", changes[3].OldValue!.Value.GetString());
            Assert.Equal("mode", changes[3].Key);
        }
        Assert.Equal(DtErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<DtException>(() => a.Map("cfg").Set("", Json("1")))).Code);
        Assert.Equal(DtErrorCodes.InvalidArgument, Assert.Throws<DtException>(() => a.Map("bad name!")).Code);
    }

    [Fact]
    public async Task A_node_cut_off_longer_than_the_tombstone_retention_drops_its_copy_and_does_not_resurrect_deleted_keys()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        g.MapTombstoneRetention = TimeSpan.FromSeconds(1);
        var a = await cluster.Start(g);
        var b = await cluster.Start(g, [a]);
        var store = new NodeStore();
        var c = await cluster.Start(g, [b], store: store);
        await a.Map("m").Set("gone", Json("1"));
        await a.Map("m").Set("kept", Json("2"));
        await Eventually.Until(() => c.M().Get("m", "kept") is not null && c.M().Get("m", "gone") is not null, "the keys reach c");
        await cluster.Stop(c);
        Assert.True(await a.Map("m").Delete("gone"));
        // The deletion is forgotten everywhere once older than the retention.
        await Eventually.Until(() => b.M().Get("m", "gone") is null && a.M().Markers("m") == 0 && b.M().Markers("m") == 0,
            "the tombstone is collected on a and b", TimeSpan.FromSeconds(10));

        var again = await cluster.Start(g, [b], store: store);
        await again.Map("m").WaitReady(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        await WaitSameMap([a, b, again], "m");
        // That it never comes back over later syncs is checked on the driven clock (MapSimulationTests).
        Assert.All(new[] { a, b, again }, n => Assert.Null(n.M().Get("m", "gone")));
        Assert.Equal(["kept"], (await again.Map("m").List(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken)).Select(e => e.Key));
    }
}
