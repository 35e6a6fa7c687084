using System.Diagnostics;
using System.Net;
using Dt.Gossip;
using Dt.Hosting;
using Dt.Security;
using Dt.Tests.Engine;
using Dt.Transport.InMemory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Dt.Tests.Simulation;

/// <summary>Simulation tests drive one clock shared by every node, so they run alone.</summary>
[CollectionDefinition(nameof(SimulationCollection), DisableParallelization = true)]
public sealed class SimulationCollection;

/// <summary>
/// Dt nodes in this process on an <see cref="InMemoryNetwork"/> (no sockets) and one driven clock
/// (<see cref="FakeTimeProvider"/>): timers, backoff, heartbeats and timeouts move only when the test advances the
/// clock, so minutes of a network's life pass in a fraction of a second, and faults (partitions, cuts, crashes,
/// failing dials from a seeded generator) happen exactly where the test puts them.
/// </summary>
internal sealed class SimulatedCluster : IAsyncDisposable
{
    private readonly List<DtNode> _nodes = [];
    private readonly Dictionary<DtNode, IPAddress> _hosts = new(ReferenceEqualityComparer.Instance);
    private readonly ILoggerFactory _loggers;
    private int _masters;

    public SimulatedCluster(int seed, bool log = false)
    {
        Network = new InMemoryNetwork(Time, seed);
        _loggers = log ? LoggerFactory.Create(b => b.AddProvider(new TestOutputLoggerProvider()).SetMinimumLevel(LogLevel.Debug)) : NullLoggerFactory.Instance;
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public InMemoryNetwork Network { get; }

    public string Key { get; } = NetworkKey.Generate().ToBase64();

    public IReadOnlyList<DtNode> Nodes => _nodes;

    /// <summary>Virtual time this cluster has run.</summary>
    public TimeSpan Elapsed => Time.GetUtcNow() - new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public IPAddress HostOf(DtNode node) => _hosts[node];

    /// <summary>
    /// Starts a node on a new host (or on <paramref name="host"/>, to restart a stopped node where it was, with the
    /// <paramref name="store"/> it had); it dials <paramref name="peers"/>. Masters sign with <see cref="TestCluster.MasterKeys"/>.
    /// </summary>
    public async Task<DtNode> Start(bool master = false, DtNode[]? peers = null, GossipOptions? gossip = null, Action<DtOptions>? configure = null,
        NodeStore? store = null, IPAddress? host = null)
    {
        host ??= Network.AddHost();
        var o = DtOptions.ForTests(Key, master, master ? TestCluster.MasterKeys[_masters++ % TestCluster.MasterKeys.Count].ExportPrivateBase64() : null);
        o.TrustedMasterKeys.AddRange(TestCluster.MasterKeys.Select(k => k.PublicKeyBase64));
        o.ListenAddress = host.ToString();
        o.Port = 9700;
        // The driven clock runs ahead of a busy node: only silence the test makes (a crash, a cut) should end a link.
        o.LinkIdleTimeout = TimeSpan.FromMinutes(10);
        foreach (var p in peers ?? []) o.Peers.Add($"{_hosts[p]}:9700");
        configure?.Invoke(o);
        var node = await DtNode.StartAsync(o, Network.TransportOf(host), _loggers, store, Time, gossip);
        _nodes.Add(node);
        _hosts[node] = host;
        return node;
    }

    /// <summary>Where <paramref name="node"/> listens, as a peer address.</summary>
    public string Address(DtNode node) => $"{_hosts[node]}:9700";

    public static bool Linked(DtNode a, DtNode b) => a.Overlay.Links.Any(l => l.RemoteNodeId == b.NodeId && !l.IsClosed);

    /// <summary><paramref name="from"/> dials <paramref name="to"/> (a link outside the overlay's choice, e.g. to close a cycle); returns once they are linked.</summary>
    public async Task Link(DtNode from, DtNode to, TimeSpan? limit = null)
    {
        var dialing = from.Overlay.AddCandidateForTests(Address(to));
        await RunUntil(() => Linked(from, to), $"{from.NodeId} links to {to.NodeId}", limit ?? TimeSpan.FromSeconds(10));
        await dialing;
    }

    /// <summary>Advances the clock until each node links to the next, in pairs (a, b, c, d: a to b and c to d).</summary>
    public Task RunUntilLinked(params (DtNode From, DtNode To)[] pairs) =>
        RunUntil(() => pairs.All(p => Linked(p.From, p.To)), "the nodes are linked", TimeSpan.FromSeconds(10));

    /// <summary>
    /// A tree: node 0 (the master) first, node i dialing node (i - 1) / 2. With <paramref name="stores"/>, node i
    /// starts holding <c>stores(i)</c> (as a node restarted with what it had).
    /// </summary>
    public async Task<DtNode[]> StartTree(int n, GossipOptions? gossip = null, Func<int, NodeStore?>? stores = null)
    {
        var nodes = new DtNode[n];
        for (int i = 0; i < n; i++) nodes[i] = await Start(master: i == 0, peers: i == 0 ? null : [nodes[(i - 1) / 2]], gossip: gossip, store: stores?.Invoke(i));
        return nodes;
    }

    /// <summary>
    /// Makes stores holding what <paramref name="source"/>'s tables hold now, the same signed batches: what a node that
    /// synced with it earlier would have kept. Each call of the result is a new store.
    /// </summary>
    public static Func<NodeStore> CopiesOf(DtNode source)
    {
        var tables = source.Store.Tables.Select(t => (t.Key, Changes: t.Value.SnapshotGroups().SelectMany(g => g.Included).ToList())).ToList();
        return () =>
        {
            var copy = new NodeStore();
            foreach (var (name, changes) in tables)
            {
                var table = copy.Tables.GetOrAdd(name, n => new Dt.Replication.TableState(n));
                table.Reserve(changes.Count);
                table.ApplyAll(changes);
            }
            return copy;
        };
    }

    /// <summary>
    /// Advances the clock in steps of <paramref name="step"/> (default 10 ms), letting the nodes run between steps,
    /// until <paramref name="condition"/> holds; fails if it does not within <paramref name="limit"/> of driven time
    /// (or, should the machine stall, 60 s of real time).
    /// </summary>
    public async Task RunUntil(Func<bool> condition, string what, TimeSpan limit, TimeSpan? step = null)
    {
        var until = Time.GetUtcNow() + limit;
        var real = Stopwatch.StartNew();
        while (!condition())
        {
            if (Time.GetUtcNow() >= until) throw new TimeoutException($"{what}: not within {limit.TotalSeconds:0.###} s of driven time");
            if (real.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"{what}: not within 60 s of real time ({Elapsed.TotalSeconds:0.###} s driven)");
            await Step(step ?? TimeSpan.FromMilliseconds(10));
        }
    }

    /// <summary>
    /// Advances the clock by <paramref name="duration"/>, checking <paramref name="invariant"/> after every step. A
    /// duration of zero or less (a window computed from a deadline already passed) fails: the check would pass vacuously.
    /// </summary>
    public async Task RunFor(TimeSpan duration, Func<bool> invariant, string what, TimeSpan? step = null)
    {
        if (duration <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(duration), duration, $"{what}: nothing to check in a window of {duration.TotalMilliseconds:0} ms");
        var until = Time.GetUtcNow() + duration;
        while (Time.GetUtcNow() < until)
        {
            await Step(step ?? TimeSpan.FromMilliseconds(10));
            Assert.True(invariant(), $"{what} (broken at {Elapsed.TotalSeconds:0.###} s driven)");
        }
    }

    /// <summary>
    /// One step: the clock moves, then the work it released runs until the thread pool is quiet for a few passes in a
    /// row: nothing queued, no worker busy but this loop's own, and no work item completed but this loop's own (a crypto
    /// handshake or a batch being applied is a busy worker). Bounded, so a node that never goes quiet cannot hang it.
    /// </summary>
    private async Task Step(TimeSpan step)
    {
        Time.Advance(step);
        ThreadPool.GetMaxThreads(out int maxWorkers, out _);
        long completed = ThreadPool.CompletedWorkItemCount;
        var real = Stopwatch.StartNew();
        for (int quiet = 0; quiet < 3 && real.ElapsedMilliseconds < 50;)
        {
            await Task.Yield();
            Thread.Sleep(0);
            ThreadPool.GetAvailableThreads(out int availableWorkers, out _);
            long now = ThreadPool.CompletedWorkItemCount;
            // This loop's own continuation is one busy worker and one completed item per pass; anything more is the nodes'.
            bool idle = ThreadPool.PendingWorkItemCount == 0 && maxWorkers - availableWorkers <= 1 && now - completed <= 1;
            quiet = idle ? quiet + 1 : 0;
            completed = now;
        }
    }

    /// <summary>Kills <paramref name="node"/> as a killed process dies: its host drops off the network first (no goodbye reaches anyone), then the node stops. Returns the stop.</summary>
    public Task Kill(DtNode node)
    {
        Network.Crash(_hosts[node]);
        return Stop(node);
    }

    /// <summary>Stops <paramref name="node"/>; its host stays known (<see cref="HostOf"/>) for a restart there.</summary>
    public async Task Stop(DtNode node)
    {
        _nodes.Remove(node);
        await node.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var n in _nodes.ToList()) await n.DisposeAsync();
        _nodes.Clear();
        _loggers.Dispose();
    }
}
