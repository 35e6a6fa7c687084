using System.Diagnostics;
using System.Text.Json;
using Dt.Gossip;
using Dt.Hosting;

namespace Dt.Bench.Scenarios;

/// <summary>
/// Gossip node state and membership (issue 5): how fast keys set on one node reach every node, how fast a cluster
/// converges after start, and how fast a killed node is declared dead. In-process nodes on loopback, production
/// overlay defaults (<see cref="BenchNet"/>), gossip settings as named per figure.
/// </summary>
public static class Gossip
{
    private static readonly JsonElement Value = JsonDocument.Parse("\"value of a gossip key, about 40 bytes\"").RootElement.Clone();

    /// <summary>Starts <paramref name="n"/> nodes, node i linked to an earlier one (a binary tree, or a random tree).</summary>
    private static async Task<DtNode[]> StartNodes(BenchNet net, int n, GossipOptions g, Random? random = null, Func<DtNode, Task>? started = null)
    {
        var nodes = new DtNode[n];
        for (int i = 0; i < n; i++)
        {
            var o = i == 0 ? net.Options(master: false) : net.Options(master: false, nodes[random is null ? (i - 1) / 2 : random.Next(i)]);
            nodes[i] = await net.Start(o, gossip: g);
            if (started is not null) await started(nodes[i]);
        }
        return nodes;
    }

    private static GossipModule G(DtNode node) => node.Module<GossipModule>();

    /// <summary>Every node knows all others and sees them alive.</summary>
    private static bool AllLive(DtNode[] nodes) => nodes.All(x => G(x).PeerCounts() == (nodes.Length - 1, nodes.Length - 1));

    /// <summary>Every node holds every node's latest state (its own version of itself) and sees all others alive.</summary>
    private static bool Converged(DtNode[] nodes, out int behind)
    {
        var own = nodes.ToDictionary(x => G(x).Name, x => G(x).OwnVersion());
        behind = 0;
        foreach (var x in nodes)
            if (G(x).PeerCounts() != (nodes.Length - 1, nodes.Length - 1) || !G(x).HoldsAll(own)) behind++;
        return behind == 0;
    }

    /// <summary>
    /// <paramref name="keys"/> keys set one by one through the gossip grain of one node of a 10-node tree (LAN profile);
    /// the time from the first set until every node holds the writer's last version.
    /// </summary>
    public static async Task<Values> KeysAsync(int n, int keys, Action<string> progress)
    {
        var v = new Values();
        await using var net = new BenchNet();
        var nodes = await StartNodes(net, n, GossipOptions.Lan());
        await BenchNet.WaitUntil(() => AllLive(nodes), TimeSpan.FromSeconds(30), $"all {n} nodes see each other alive");
        var writer = nodes[0];
        var grain = writer.GetGossip();
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < keys; i++) await grain.Set($"bench.{i}", Value);
        v["set_ms"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        var expected = new Dictionary<string, (long, long)> { [G(writer).Name] = G(writer).OwnVersion() };
        var reached = new double[n];
        await BenchNet.WaitUntil(() =>
        {
            bool all = true;
            for (int i = 0; i < n; i++)
            {
                if (reached[i] > 0) continue;
                if (G(nodes[i]).HoldsAll(expected)) reached[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                else all = false;
            }
            return all;
        }, TimeSpan.FromSeconds(60), $"{keys} keys reach all {n} nodes");
        v["keys_all_ms"] = reached.Max();
        v["keys_p50_ms"] = LiveAdds.Percentile([.. reached.Skip(1).Order()], 0.5);
        if ((await nodes[^1].GetGossip().GetRemoteKeys(G(writer).Name)).Count != keys) throw new InvalidOperationException("the last node does not list every key");
        progress($"gossip: {keys} keys at all {n} nodes after {Fmt.Ms(v["keys_all_ms"])} (set calls took {Fmt.Ms(v["set_ms"])})");
        return v;
    }

    /// <summary>
    /// <paramref name="n"/> nodes started one after another on a random tree, each setting one key; the time until every
    /// node holds every node's state and sees every node alive, counted from the last start and from the first.
    /// </summary>
    public static async Task<Values> ClusterAsync(int n, int holdSeconds, Action<string> progress)
    {
        var v = new Values();
        await using var net = new BenchNet();
        var g = ClusterProfile();
        var random = new Random(42);
        int id = 0;
        long first = Stopwatch.GetTimestamp();
        var nodes = await StartNodes(net, n, g, random, node => node.GetGossip().Set("id", JsonDocument.Parse($"{id++}").RootElement.Clone()));
        long last = Stopwatch.GetTimestamp();
        v["start_s"] = Stopwatch.GetElapsedTime(first, last).TotalSeconds;
        var report = Stopwatch.StartNew();
        int behind = n;
        var deadline = Stopwatch.StartNew();
        while (!Converged(nodes, out behind))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(90)) throw new TimeoutException($"{behind} of {n} nodes not converged after 90 s");
            if (report.ElapsedMilliseconds >= 2000) { progress($"gossip {n} nodes: {behind} not converged yet"); report.Restart(); }
            await Task.Delay(n > 20 ? 100 : 10);
        }
        v["converge_s"] = Stopwatch.GetElapsedTime(last).TotalSeconds;
        v["total_s"] = Stopwatch.GetElapsedTime(first).TotalSeconds;
        // Stays converged: for hold seconds, no node falls behind (checked every 250 ms) or declares anyone dead.
        var held = Stopwatch.StartNew();
        while (held.Elapsed.TotalSeconds < holdSeconds)
        {
            await Task.Delay(250);
            if (!Converged(nodes, out behind)) v["fell_behind"] = v.GetValueOrDefault("fell_behind") + 1;
        }
        v["hold_s"] = holdSeconds;
        v["dead_verdicts"] = nodes.Sum(x => G(x).DeadVerdicts);
        progress($"gossip: {n} nodes started in {Fmt.Seconds(v["start_s"])}, converged {Fmt.Seconds(v["converge_s"])} later; held {holdSeconds} s, dead verdicts {v["dead_verdicts"]}");
        return v;
    }

    /// <summary>The LAN profile with the patient detector of the 100-node test (every node shares two cores here).</summary>
    public static GossipOptions ClusterProfile()
    {
        var g = GossipOptions.Lan();
        g.AcceptableHeartbeatPause = TimeSpan.FromSeconds(3);
        g.MinStdDeviation = TimeSpan.FromMilliseconds(200);
        return g;
    }

    /// <summary>
    /// A leaf of an <paramref name="n"/>-node tree is killed (disposed) once every detector has sampled heartbeats;
    /// the ms from the kill until each other node declares it dead.
    /// </summary>
    public static async Task<Values> DetectionAsync(int n, bool lan, Action<string> progress)
    {
        var v = new Values();
        await using var net = new BenchNet();
        var nodes = await StartNodes(net, n, lan ? GossipOptions.Lan() : GossipOptions.ForTests());
        await BenchNet.WaitUntil(() => AllLive(nodes), TimeSpan.FromSeconds(30), $"all {n} nodes see each other alive");
        await BenchNet.WaitUntil(() => nodes.All(x => G(x).Peers().All(p => p.Heartbeat >= 5)), TimeSpan.FromSeconds(30), "five heartbeats everywhere");
        var victim = nodes[^1];
        var others = nodes[..^1];
        string name = G(victim).Name;
        var detected = new double[others.Length];
        long start = Stopwatch.GetTimestamp();
        var stopping = net.Stop(victim);
        await BenchNet.WaitUntil(() =>
        {
            bool all = true;
            for (int i = 0; i < others.Length; i++)
            {
                if (detected[i] > 0) continue;
                if (G(others[i]).Peers(alive: false).Any(p => p.Name == name)) detected[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                else all = false;
            }
            return all;
        }, TimeSpan.FromSeconds(30), "every node declares the killed node dead");
        await stopping;
        v["det_all_ms"] = detected.Max();
        v["det_first_ms"] = detected.Min();
        v["false_verdicts"] = others.Sum(x => G(x).DeadVerdicts) - others.Length;
        progress($"detection ({(lan ? "LAN" : "test")} profile, {n} nodes): first {Fmt.Ms(v["det_first_ms"])}, all {Fmt.Ms(v["det_all_ms"])}; other verdicts {v["false_verdicts"]}");
        return v;
    }
}
