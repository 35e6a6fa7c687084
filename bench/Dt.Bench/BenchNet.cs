using System.Diagnostics;
using Dt.Hosting;
using Dt.Replication;
using Dt.Security;

namespace Dt.Bench;

/// <summary>
/// One network of in-process nodes on loopback. Every node uses the production defaults of <see cref="DtOptions"/>
/// (timers included: reconciliation every 30 s, pings every 2 s) except: 127.0.0.1, any free port, tables in memory
/// (or on disk under a temporary folder), and one master key that every node trusts.
/// </summary>
public sealed class BenchNet : IAsyncDisposable
{
    private readonly List<DtNode> _nodes = [];
    private readonly string? _root;
    private int _dirs;

    public BenchNet(DtStorage storage = DtStorage.Memory)
    {
        Storage = storage;
        if (storage == DtStorage.Disk)
        {
            _root = Path.Combine(Path.GetTempPath(), "dt-bench-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(_root);
        }
    }

    public string Key { get; } = NetworkKey.Generate().ToBase64();

    internal MasterSigningKey MasterKey { get; } = MasterSigningKey.Generate();

    public DtStorage Storage { get; }

    /// <summary>Options for a new node; <paramref name="peers"/> are dialed ("Dt:Peers").</summary>
    public DtOptions Options(bool master, params DtNode[] peers)
    {
        var o = new DtOptions
        {
            Key = Key,
            Master = master,
            MasterKey = master ? MasterKey.ExportPrivateBase64() : null,
            ListenAddress = "127.0.0.1",
            Port = 0,
            Storage = Storage,
            DataDir = _root is null ? "unused" : Path.Combine(_root, $"node{Interlocked.Increment(ref _dirs)}"),
        };
        o.TrustedMasterKeys.Add(MasterKey.PublicKeyBase64);
        foreach (var p in peers) o.Peers.Add(Address(p));
        return o;
    }

    public async Task<DtNode> Start(DtOptions options, NodeStore? store = null, Dt.Gossip.GossipOptions? gossip = null)
    {
        var node = await DtNode.StartAsync(options, null, store, gossip: gossip);
        lock (_nodes) _nodes.Add(node);
        return node;
    }

    public async Task Stop(DtNode node)
    {
        lock (_nodes) _nodes.Remove(node);
        await node.DisposeAsync();
    }

    public static string Address(DtNode node) => $"127.0.0.1:{node.Port ?? throw new InvalidOperationException("node has no listener")}";

    public static (long Count, string Digest) Summary(DtNode node, string table)
    {
        var t = node.Replicator.Find(table);
        if (t is null) return (0, new TableState(table).LiveDigest);
        return t.Summary();
    }

    /// <summary>Bytes on the wire of every open link of a node, both directions, handshakes included.</summary>
    public static long Wire(DtNode node)
    {
        long sum = 0;
        foreach (var l in node.Overlay.Links) sum += Interlocked.Read(ref l.BytesSent) + Interlocked.Read(ref l.BytesReceived);
        return sum;
    }

    /// <summary>Loads objects [0, n) of <paramref name="seed"/> on a master in bulk; returns the payload bytes.</summary>
    public static long Load(DtNode master, string table, long n, int seed, long start = 0, int chunk = 65536)
    {
        long payload = 0;
        for (long i = start; i < start + n; i += chunk)
        {
            var list = Payload.Objects(seed, i, (int)Math.Min(chunk, start + n - i));
            foreach (var b in list) payload += b.Length;
            master.Replicator.Add(table, list);
        }
        return payload;
    }

    /// <summary>
    /// Polls (every millisecond) until the node's table has this count and digest; returns the seconds since
    /// <paramref name="since"/> (a <see cref="Stopwatch"/> timestamp). Throws <see cref="TimeoutException"/>.
    /// </summary>
    public static async Task<double> WaitDigest(DtNode node, string table, long count, string digest, long since, TimeSpan timeout, string what) =>
        (await WaitDigestAndLink(node, table, count, digest, since, timeout, what)).Converged;

    /// <summary>As <see cref="WaitDigest"/>, also returning when the node first had a link (seconds since <paramref name="since"/>).</summary>
    public static async Task<(double Converged, double LinkUp)> WaitDigestAndLink(DtNode node, string table, long count, string digest, long since, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        double linkUp = double.NaN;
        while (true)
        {
            if (double.IsNaN(linkUp) && node.Overlay.Links.Count > 0) linkUp = Stopwatch.GetElapsedTime(since).TotalSeconds;
            var t = node.Replicator.Find(table);
            if (t is not null && t.LiveCount == count)
            {
                if (t.LiveDigest == digest) return (Stopwatch.GetElapsedTime(since).TotalSeconds, double.IsNaN(linkUp) ? Stopwatch.GetElapsedTime(since).TotalSeconds : linkUp);
            }
            if (Stopwatch.GetTimestamp() > deadline)
                throw new TimeoutException($"{what}: not converged after {timeout.TotalSeconds:0} s (holds {t?.LiveCount ?? 0} of {count})");
            await Task.Delay(1);
        }
    }

    public static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!condition())
        {
            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"timed out waiting until {what}");
            await Task.Delay(5);
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<DtNode> nodes;
        lock (_nodes) nodes = [.. _nodes];
        _nodes.Clear();
        await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
        if (_root is not null)
            try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
