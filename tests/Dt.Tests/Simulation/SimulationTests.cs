using System.Diagnostics;
using System.Text;
using Dt.Gossip;
using Dt.Hosting;
using Dt.Tests.Engine;
using Xunit;

namespace Dt.Tests.Simulation;

/// <summary>
/// Replication, reconciliation and membership on the in-memory network with a driven clock: whole scenarios that take
/// minutes of a network's time run in about a second, without sockets, and the faults come where the test puts them.
/// The socket tests (Engine/, Gossip/) stay: these add speed and control, not coverage of the TCP path.
/// </summary>
[Collection(nameof(SimulationCollection))]
public sealed class SimulationTests
{
    private static byte[] Object(int i) => Encoding.UTF8.GetBytes($"{{\"i\":{i},\"name\":\"object {i}\"}}");

    private static void Add(DtNode master, int from, int count)
    {
        for (int start = from; start < from + count; start += 1000)
            master.Replicator.Add("default", Enumerable.Range(start, Math.Min(1000, from + count - start)).Select(Object).ToList());
    }

    private static bool Converged(IEnumerable<DtNode> nodes, (long Count, string Digest) expected) =>
        nodes.All(n => TestCluster.Summary(n) == expected);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Twenty_nodes_partitioned_and_healed_converge_on_ten_thousand_objects(int seed)
    {
        var wall = Stopwatch.StartNew();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        await using var sim = new SimulatedCluster(seed);
        var nodes = await sim.StartTree(20);
        var startedCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        var startedWall = wall.Elapsed;
        var master = nodes[0];
        Add(master, 0, 10_000);
        var full = TestCluster.Summary(master);
        Assert.Equal(10_000, full.Count);
        await sim.RunUntil(() => Converged(nodes, full), "all 20 nodes hold the master's 10,000 objects", TimeSpan.FromSeconds(30));
        var synced = sim.Elapsed;
        var syncedWall = wall.Elapsed;
        var syncedCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;

        // Half the network (the master's side) is cut off from the other half; the master removes 100 objects (each
        // removal its own signed batch) and adds 1,000 (one batch).
        var sideA = nodes[..10];
        var sideB = nodes[10..];
        sim.Network.Partition(sideA.Select(sim.HostOf), sideB.Select(sim.HostOf));
        for (int i = 0; i < 100; i++) Assert.True(master.Replicator.Remove("default", Dt.Model.ObjectHash.Of(Object(i))));
        Add(master, 10_000, 1_000);
        var changed = TestCluster.Summary(master);
        Assert.Equal(10_900, changed.Count);
        await sim.RunUntil(() => Converged(sideA, changed), "the master's side holds the changes", TimeSpan.FromSeconds(30));
        // Nothing crosses the partition: for 3 s of the network's time (three reconciliation rounds, several re-dials
        // at the backoff's cap) the other side keeps exactly what it had.
        await sim.RunFor(TimeSpan.FromSeconds(3), () => Converged(sideB, full), "the cut-off side is unchanged while the partition lasts", TimeSpan.FromMilliseconds(100));

        var partitionWall = wall.Elapsed;
        var partitionCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        sim.Network.Heal();
        var healedAt = sim.Elapsed;
        await sim.RunUntil(() => Converged(nodes, changed), "all 20 nodes hold the master's set after the heal", TimeSpan.FromSeconds(60));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"seed {seed}: synced at {synced.TotalSeconds:0.00} s driven, converged {(sim.Elapsed - healedAt).TotalSeconds:0.00} s after the heal; " +
            $"{sim.Network.Dials} dials ({sim.Network.RefusedDials} refused); wall time {wall.Elapsed.TotalMilliseconds:0} ms " +
            $"(start {startedWall.TotalMilliseconds:0} ms, initial sync {syncedWall.TotalMilliseconds:0} ms, partition {(partitionWall - syncedWall).TotalMilliseconds:0} ms, heal {(wall.Elapsed - partitionWall).TotalMilliseconds:0} ms); " +
            $"cpu start {startedCpu.TotalMilliseconds:0} ms, sync {syncedCpu.TotalMilliseconds:0}, partition {partitionCpu.TotalMilliseconds:0}, total {(Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds:0}");
    }

    [Fact]
    public async Task A_crashed_node_is_declared_dead_by_every_other_node_and_no_live_one_is()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 3);
        var gossip = GossipOptions.ForTests();
        var nodes = await sim.StartTree(8, gossip);
        var names = nodes.Select(n => n.Gossip.Name).ToList();
        await sim.RunUntil(() => nodes.All(n => n.Gossip.Peers(alive: true).Count == nodes.Length - 1),
            "every node sees the 7 others alive", TimeSpan.FromSeconds(30));

        var victim = nodes[5];
        var others = nodes.Where(n => n != victim).ToList();
        sim.Network.Crash(sim.HostOf(victim));
        await sim.RunUntil(() => others.All(n => n.Gossip.Peers(alive: false).Any(p => p.Name == victim.Gossip.Name)),
            "every other node declares the crashed node dead", TimeSpan.FromSeconds(30));
        var detected = sim.Elapsed;
        // No false verdict: every survivor still sees the other 6 alive, then and for 5 s of the network's time.
        await sim.RunFor(TimeSpan.FromSeconds(5), () => others.All(n => n.Gossip.Peers(alive: true).Count == others.Count - 1),
            "no live node is declared dead", TimeSpan.FromMilliseconds(50));
        Assert.All(others, n => Assert.Equal(1, n.Gossip.DeadVerdicts));
        TestContext.Current.TestOutputHelper?.WriteLine($"dead verdicts everywhere at {detected.TotalSeconds:0.00} s driven; {wall.Elapsed.TotalMilliseconds:0} ms of wall time");
    }

    [Fact]
    public async Task A_link_with_delay_and_failing_dials_still_converges()
    {
        await using var sim = new SimulatedCluster(seed: 4);
        sim.Network.DialFailureRate = 0.3;
        var nodes = await sim.StartTree(6);
        sim.Network.Delay(sim.HostOf(nodes[0]), sim.HostOf(nodes[1]), TimeSpan.FromMilliseconds(200));
        Add(nodes[0], 0, 2_000);
        var expected = TestCluster.Summary(nodes[0]);
        await sim.RunUntil(() => Converged(nodes, expected), "every node holds the 2,000 objects", TimeSpan.FromSeconds(60));
        Assert.True(sim.Network.RefusedDials > 0, "some dials failed");
        // A cut link is re-dialed and reconciled: the master's next change reaches its neighbour again.
        sim.Network.Cut(sim.HostOf(nodes[0]), sim.HostOf(nodes[1]));
        Add(nodes[0], 2_000, 10);
        expected = TestCluster.Summary(nodes[0]);
        await sim.RunUntil(() => Converged(nodes, expected), "the change made across a cut link arrives", TimeSpan.FromSeconds(60));
    }
}
