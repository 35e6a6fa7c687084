using System.Text.Json;
using Dt.Hosting;
using Dt.Replication;
using Dt.Security;
using Microsoft.Extensions.Logging;
using Xunit;
using Dt.Model;

namespace Dt.Tests.Engine;

/// <summary>
/// Starts Dt nodes in this process on loopback (random ports, the fast test profile) and waits for conditions with
/// deadlines. Disposing stops every node it started.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly List<DtNode> _nodes = [];
    private readonly ILoggerFactory _loggers;

    public TestCluster(string? key = null)
    {
        Key = key ?? NetworkKey.Generate().ToBase64();
        _loggers = LoggerFactory.Create(b => b.AddProvider(new TestOutputLoggerProvider()).SetMinimumLevel(LogLevel.Debug));
    }

    public string Key { get; }

    public IReadOnlyList<DtNode> Nodes => _nodes;

    public static TimeSpan Deadline => Eventually.Deadline;

    /// <summary>Signing keys for the masters of test clusters; every test node trusts all of them.</summary>
    internal static IReadOnlyList<MasterSigningKey> MasterKeys { get; } = [MasterSigningKey.Generate(), MasterSigningKey.Generate(), MasterSigningKey.Generate()];

    private int _masters;

    /// <summary>Starts a node (with <paramref name="gossip"/> settings, default the LAN profile). Masters sign with <see cref="MasterKeys"/>[<paramref name="masterKey"/>] (by default the next one).</summary>
    public async Task<DtNode> Start(bool master = false, DtNode[]? peers = null, Action<DtOptions>? configure = null, NodeStore? store = null, int? masterKey = null, Dt.Gossip.GossipOptions? gossip = null)
    {
        var options = DtOptions.ForTests(Key, master, master ? MasterKeys[masterKey ?? _masters++ % MasterKeys.Count].ExportPrivateBase64() : null);
        options.TrustedMasterKeys.AddRange(MasterKeys.Select(k => k.PublicKeyBase64));
        foreach (var p in peers ?? []) options.Peers.Add(Address(p));
        configure?.Invoke(options);
        var node = await DtNode.StartAsync(options, _loggers, store, gossip: gossip);
        lock (_nodes) _nodes.Add(node);
        return node;
    }

    /// <summary>A chain: the first node is the master; each next node links to the one before.</summary>
    public async Task<DtNode[]> StartChain(int n)
    {
        var nodes = new DtNode[n];
        nodes[0] = await Start(master: true);
        for (int i = 1; i < n; i++) nodes[i] = await Start(peers: [nodes[i - 1]]);
        return nodes;
    }

    /// <summary>A star: the first node is the master; every other node links to it.</summary>
    public async Task<DtNode[]> StartStar(int n)
    {
        var nodes = new DtNode[n];
        nodes[0] = await Start(master: true);
        for (int i = 1; i < n; i++) nodes[i] = await Start(peers: [nodes[0]]);
        return nodes;
    }

    public async Task Stop(DtNode node)
    {
        lock (_nodes) _nodes.Remove(node);
        await node.DisposeAsync();
    }

    /// <summary>Splits the network: no node of one side links to any node of the other until <see cref="Heal"/>.</summary>
    public static async Task Partition(IReadOnlyList<DtNode> sideA, IReadOnlyList<DtNode> sideB)
    {
        foreach (var n in sideA) n.Overlay.Partition(sideB.Select(x => x.NodeId));
        foreach (var n in sideB) n.Overlay.Partition(sideA.Select(x => x.NodeId));
        var b = sideB.Select(x => x.NodeId).ToHashSet();
        await Eventually.Until(() => sideA.All(n => n.Overlay.Links.All(l => !b.Contains(l.RemoteNodeId))), "the partition holds");
    }

    public static void Heal(IEnumerable<DtNode> nodes)
    {
        foreach (var n in nodes) n.Overlay.Partition([]);
    }

    public static string Address(DtNode node) => $"127.0.0.1:{node.Port ?? throw new InvalidOperationException("node has no listener")}";

    public static (long Count, string Digest) Summary(DtNode node, string table = "default")
    {
        var t = node.Replicator.Find(table);
        if (t is null) return (0, new TableState(table).LiveDigest);
        return t.Summary();
    }

    /// <summary>Waits until every node's table has the same count and digest as the first node's.</summary>
    public static Task WaitConverged(IReadOnlyList<DtNode> nodes, string table = "default", TimeSpan? timeout = null) =>
        Eventually.Until(() =>
        {
            var first = Summary(nodes[0], table);
            return nodes.All(n => Summary(n, table) == first);
        }, $"all {nodes.Count} nodes hold the same '{table}' table", timeout);

    public static bool Holds(DtNode node, string hash, string table = "default")
    {
        var t = node.Replicator.Find(table);
        if (t is null || !ObjectHash.TryParse(hash, out var h)) return false;
        return t.TryGetLive(h, out _);
    }

    public static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public static Task WaitLinked(DtNode a, DtNode b) =>
        Eventually.Until(() => a.Overlay.Links.Any(l => l.RemoteNodeId == b.NodeId && !l.IsClosed), $"{a.NodeId} links to {b.NodeId}");

    public async ValueTask DisposeAsync()
    {
        List<DtNode> nodes;
        lock (_nodes) nodes = [.. _nodes];
        await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
        _loggers.Dispose();
    }
}

/// <summary>Sends engine logs to the running test's output, so a failed test shows what the nodes did.</summary>
internal sealed class TestOutputLoggerProvider : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName);

    public void Dispose() { }

    private sealed class Logger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= (Environment.GetEnvironmentVariable("DT_TEST_LOG_DEBUG") == "1" ? LogLevel.Debug : LogLevel.Information);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                TestContext.Current.TestOutputHelper?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
            }
            catch (InvalidOperationException)
            {
                // No test is running (e.g. a node stopping after its test ended).
            }
        }
    }
}
