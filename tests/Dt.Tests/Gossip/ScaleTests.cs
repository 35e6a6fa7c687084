using System.Diagnostics;
using Dt.Gossip;
using Dt.Hosting;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Engine.TestCluster;
using static Dt.Tests.Gossip.GossipKit;

namespace Dt.Tests.Gossip;

[Collection(nameof(GossipCollection))]
public sealed class ScaleTests
{
    /// <summary>Every node holds every node's latest state (its own version of itself) and sees all others alive.</summary>
    private static bool Converged(DtNode[] nodes, out int behind)
    {
        var own = nodes.ToDictionary(n => n.Name(), n => n.G().OwnVersion());
        behind = 0;
        foreach (var n in nodes)
            if (n.G().PeerCounts() != (nodes.Length - 1, nodes.Length - 1) || !n.G().HoldsAll(own)) behind++;
        return behind == 0;
    }

    [Fact]
    public async Task A_hundred_node_cluster_converges_and_stays_converged()
    {
        const int n = 100;
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        // 100 nodes share two cores here (and the machine with other work): gossip every 100 ms as in the fast profile,
        // but a detector as patient as Akka's default (heartbeats every 500 ms, 3 s acceptable pause), since this test
        // is about convergence at scale, not detection speed; no verdict at all is allowed.
        g.GossipInterval = TimeSpan.FromMilliseconds(100);
        g.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
        g.AcceptableHeartbeatPause = TimeSpan.FromSeconds(3);
        g.MinStdDeviation = TimeSpan.FromMilliseconds(200);
        g.MaxLocalPause = TimeSpan.FromMilliseconds(500);
        g.ForgetDeadAfter = TimeSpan.FromSeconds(30);
        g.StateTombstoneRetention = TimeSpan.FromSeconds(60);
        void Overlay(DtOptions o)
        {
            o.PingInterval = TimeSpan.FromSeconds(1);
            o.LinkIdleTimeout = TimeSpan.FromSeconds(10);
            o.AnnounceInterval = TimeSpan.FromSeconds(1);
            o.NodeTestInterval = TimeSpan.FromMinutes(10);
            o.SyncInterval = TimeSpan.FromSeconds(10);
        }
        var random = new Random(42);
        var nodes = new DtNode[n];
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < n; i++)
        {
            // A random tree: each node links to a random earlier node (depth about ln n, hubs and long chains both).
            nodes[i] = await cluster.Start(g, i == 0 ? null : [nodes[random.Next(i)]], Overlay);
            await nodes[i].Grain().Set("id", TestCluster.Json($"{i}"));
        }
        long started = sw.ElapsedMilliseconds;
        int behind = n;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        void Progress() => Print($"  after {sw.ElapsedMilliseconds} ms: {behind} nodes not converged yet, {nodes.Sum(x => x.Overlay.Links.Count) / 2} links");
        await Eventually.Until(() => Converged(nodes, out behind), "all 100 nodes hold every node's state and see every node alive",
            TimeSpan.FromSeconds(40), polling: Polling.Costly(TimeSpan.FromMilliseconds(100)), progress: Progress);
        long converged = sw.ElapsedMilliseconds;
        Print($"100 nodes: started in {started} ms, converged {converged - started} ms later ({converged} ms from the first start)");

        // Stays converged: for 5 s no node falls behind or declares anyone dead, while a key changes once a second.
        var stay = Stopwatch.StartNew();
        int round = 0;
        long worst = 0;
        while (stay.Elapsed < TimeSpan.FromSeconds(5))
        {
            var writer = nodes[random.Next(n)];
            await writer.Grain().Set("tick", TestCluster.Json($"{round++}"));
            var t = Stopwatch.StartNew();
            await Eventually.Until(() => Converged(nodes, out behind), "the cluster converges again after a write",
                TimeSpan.FromSeconds(10), polling: Polling.Costly(TimeSpan.FromMilliseconds(100)));
            worst = Math.Max(worst, t.ElapsedMilliseconds);
            Assert.All(nodes, x => Assert.Equal(0, x.G().DeadVerdicts));
            await Task.Delay(1000 - (int)Math.Min(1000, t.ElapsedMilliseconds), TestContext.Current.CancellationToken);
        }
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Print($"stayed converged for {stay.ElapsedMilliseconds} ms: {round} writes each at all 100 nodes within {worst} ms; " +
              $"dead verdicts {nodes.Sum(x => x.G().DeadVerdicts)}, local pauses excused {nodes.Sum(x => x.G().LocalPauses)}, " +
              $"inbox drops {nodes.Sum(x => x.G().InboxDrops)}; process CPU {cpu.TotalMilliseconds / sw.ElapsedMilliseconds / Environment.ProcessorCount:P0} of {Environment.ProcessorCount} cores");
        Assert.All(nodes, x => Assert.Equal(0, x.G().DeadVerdicts));
    }
}
