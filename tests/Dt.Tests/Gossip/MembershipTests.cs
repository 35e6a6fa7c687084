using System.Diagnostics;
using System.Text.Json;
using Dt.Gossip;
using Dt.Hosting;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Engine.TestCluster;
using static Dt.Tests.Gossip.GossipKit;

namespace Dt.Tests.Gossip;

[Collection(nameof(GossipCollection))]
public sealed class MembershipTests
{
    /// <summary>Kills <paramref name="victim"/> and returns, per surviving node, the ms until it declared it dead.</summary>
    private static async Task<long[]> KillAndTime(TestCluster cluster, DtNode victim, DtNode[] others, TimeSpan timeout)
    {
        string name = victim.Name();
        var detected = new long[others.Length];
        Array.Fill(detected, -1);
        var sw = Stopwatch.StartNew();
        var stopping = cluster.Stop(victim);
        await Eventually.Until(() =>
        {
            for (int i = 0; i < others.Length; i++)
                if (detected[i] < 0 && others[i].G().Peers(alive: false).Any(p => p.Name == name)) detected[i] = sw.ElapsedMilliseconds;
            return detected.All(d => d >= 0);
        }, "every node declares the killed node dead", timeout);
        await stopping;
        return detected;
    }

    [Fact]
    public async Task Peers_come_up_and_a_killed_node_is_declared_dead_by_all_over_real_links()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var nodes = await cluster.StartTree(7, g);
        var changes = GossipStateTests.Collect(nodes[0].Grain().WatchPeers(TestContext.Current.CancellationToken), c => c.Type == GossipEventTypes.PeerDown);
        await WaitAllLive(nodes);
        var victim = nodes[6]; // a leaf, two hops from the nearest other branch
        var others = nodes[..6];
        var times = await KillAndTime(cluster, victim, others, TimeSpan.FromSeconds(5));
        Print($"test profile: killed node declared dead after {string.Join(", ", times)} ms (max {times.Max()} ms)");
        var down = await changes.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(victim.Name(), down.Peer);
        Assert.All(others, n => Assert.Equal(1, n.G().DeadVerdicts));
        Assert.All(others, n => Assert.Equal(5, n.G().Peers(alive: true).Count));
        Assert.Equal(victim.Name(), Assert.Single(await others[3].Grain().DeadPeers()).Name);
        Assert.Equal(6, (await others[3].Grain().AllPeers()).Count);
    }

    [Fact]
    public async Task The_lan_profile_declares_a_killed_node_dead_over_real_links()
    {
        await using var cluster = new TestCluster();
        var nodes = await cluster.StartTree(5, GossipOptions.Lan());
        await WaitAllLive(nodes);
        // Let the detectors sample a few LAN heartbeats (500 ms apart) first.
        await Eventually.Until(() => nodes.All(n => n.G().Peers().All(p => p.Heartbeat >= 3)), "three heartbeats everywhere");
        var times = await KillAndTime(cluster, nodes[4], nodes[..4], TimeSpan.FromSeconds(10));
        Print($"LAN profile: killed node declared dead after {string.Join(", ", times)} ms (max {times.Max()} ms)");
        Assert.True(times.Min() > 1000, $"detection after {times.Min()} ms is faster than the LAN profile should be");
    }

    [Fact]
    public async Task No_live_node_is_declared_dead_during_a_loaded_run() => await LoadedRun(TimeSpan.FromSeconds(15));

    [Fact]
    public async Task No_live_node_is_declared_dead_during_a_loaded_60_second_run()
    {
        if (Environment.GetEnvironmentVariable("DT_LONG_TESTS") != "1") Assert.Skip("long test: set DT_LONG_TESTS=1 to run it");
        await LoadedRun(TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// Eight nodes on the LAN profile (the default, which must give no false verdict) under a load that keeps both cores
    /// of the machine busy: every node writes gossip keys and map entries and says events, and the master adds and
    /// signs table objects, all the time. No verdict may be given.
    /// </summary>
    private static async Task LoadedRun(TimeSpan duration)
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.Lan();
        var nodes = new DtNode[8];
        nodes[0] = await cluster.Start(master: true, gossip: g);
        for (int i = 1; i < nodes.Length; i++) nodes[i] = await cluster.Start(g, [nodes[(i - 1) / 2]]);
        await WaitAllLive(nodes);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        long writes = 0, objects = 0, says = 0;
        string blob = new('x', 512);
        var load = nodes.Select((n, i) => Task.Run(async () =>
        {
            var grain = n.Grain();
            var map = n.Map("load");
            int k = 0;
            while (!stop.IsCancellationRequested)
            {
                for (int j = 0; j < 10; j++, k++)
                {
                    await grain.Set($"load.{k % 500}", Json($"\"{blob}{k}\""), ttlMilliseconds: k % 3 == 0 ? 2000 : null);
                    await map.Set($"n{i}.{k % 200}", Json($"{k}"));
                    Interlocked.Add(ref writes, 2);
                }
                if (k % 50 == 0)
                {
                    await grain.Say("load.tick", Json($"{k}"), 2000);
                    Interlocked.Increment(ref says);
                }
                if (i == 0)
                {
                    await n.GetTable("load").AddObjects([.. Enumerable.Range(0, 10).Select(x => Json($$"""{"k":{{k}},"x":{{x}},"pad":"{{blob}}"}"""))]);
                    Interlocked.Add(ref objects, 10);
                }
                try { await Task.Delay(10, stop.Token); } catch (OperationCanceledException) { }
            }
        })).ToArray();
        var sw = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        while (sw.Elapsed < duration)
        {
            await Task.Delay(250, TestContext.Current.CancellationToken);
            Assert.All(nodes, n => Assert.Equal(0, n.G().DeadVerdicts));
        }
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        stop.Cancel();
        await Task.WhenAll(load);
        Print($"{duration.TotalSeconds:0} s under load (process CPU {cpu.TotalMilliseconds / sw.Elapsed.TotalMilliseconds / Environment.ProcessorCount:P0} of {Environment.ProcessorCount} cores): {writes} gossip and map writes ({writes / duration.TotalSeconds:0}/s), {says} events said, " +
              $"{objects} table objects; local pauses excused: {nodes.Sum(n => n.G().LocalPauses)}; pushes skipped for backlog: {nodes.Sum(n => n.G().PushesSkipped)}; dead verdicts: {nodes.Sum(n => n.G().DeadVerdicts)}");
        Assert.All(nodes, n => Assert.Equal(0, n.G().DeadVerdicts));
        Assert.All(nodes, n => Assert.True(SeesAllLive(n, nodes)));
        await Eventually.Until(() => nodes.All(n => nodes.All(o => n.G().VersionVector()[o.Name()] == o.G().VersionVector()[o.Name()])),
            "every node holds every node's latest state after the load");
        await Eventually.Until(() => nodes.All(n => n.M().Info("load").Digest == nodes[0].M().Info("load").Digest),
            "every node holds the same map after the load");
    }

    [Fact]
    public async Task A_dead_peer_is_forgotten_after_the_configured_time_and_not_brought_back_by_stale_gossip()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        g.ForgetDeadAfter = TimeSpan.FromSeconds(2);
        g.StateTombstoneRetention = TimeSpan.FromSeconds(5);
        var nodes = await cluster.StartTree(4, g);
        await nodes[3].Grain().Set("k", Json("1"));
        await WaitAllLive(nodes);
        await Eventually.Until(() => nodes.All(n => n.G().Get(nodes[3].Name(), "k") is not null), "the key spreads");
        string name = nodes[3].Name();
        var forgotten = GossipStateTests.Collect(nodes[1].Grain().WatchPeers(TestContext.Current.CancellationToken), c => c.Type == GossipEventTypes.PeerForgotten);
        var sw = Stopwatch.StartNew();
        await cluster.Stop(nodes[3]);
        var others = nodes[..3];
        await Eventually.Until(() => others.All(n => n.G().Peers(alive: false).Any(p => p.Name == name)), "the node is declared dead");
        long dead = sw.ElapsedMilliseconds;
        await Eventually.Until(() => others.All(n => n.G().Peers().All(p => p.Name != name)), "the dead node is forgotten everywhere", TimeSpan.FromSeconds(10));
        Print($"declared dead after {dead} ms, forgotten everywhere after {sw.ElapsedMilliseconds} ms (ForgetDeadAfter 2 s)");
        // Counted from the kill; the last heartbeat was up to a couple of intervals earlier.
        Assert.True(sw.ElapsedMilliseconds >= 1500, $"forgotten after {sw.ElapsedMilliseconds} ms, before ForgetDeadAfter"); // bounds: GossipSimulationTests
        Assert.Equal(name, (await forgotten.WaitAsync(Deadline, TestContext.Current.CancellationToken)).Peer);
        Assert.Empty(await others[0].Grain().GetRemoteKeys(name));
        // That no node relearns it from another's stale digest later is checked on the driven clock (GossipSimulationTests).
        Assert.All(others, n => Assert.DoesNotContain(n.G().Peers(), p => p.Name == name));
    }
}
