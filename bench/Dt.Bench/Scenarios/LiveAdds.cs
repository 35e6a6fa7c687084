using System.Collections.Concurrent;
using System.Diagnostics;
using Dt.Hosting;
using Dt.Replication;
using Dt.Model;

namespace Dt.Bench.Scenarios;

/// <summary>
/// Live adds through a chain: master → n1 → n2 → n3 → n4 (each node dials the one before; node tests are off for
/// the run, so the chain stays a chain). Measures
/// <list type="bullet">
/// <item>objects/s: the master adds K objects in calls of <c>batch</c> objects as fast as it can; until the last node's digest equals the master's;</item>
/// <item>objects/s with one object per call (each call is one signed batch: one ECDSA signature on the master and one verification per hop);</item>
/// <item>latency: one object per call at about 1 per millisecond; add-to-event time at the last node (its event stream), p50 and p99.</item>
/// </list>
/// </summary>
public static class LiveAdds
{
    public static async Task<Values> RunAsync(int bulk, int batch, int singles, int samples, Action<string> progress)
    {
        var v = new Values();
        await using var net = new BenchNet();
        var nodes = new DtNode[5];
        nodes[0] = await net.Start(Chain(net.Options(master: true)));
        for (int i = 1; i < nodes.Length; i++) nodes[i] = await net.Start(Chain(net.Options(master: false, nodes[i - 1])));
        await BenchNet.WaitUntil(() => nodes.Select((n, i) => n.Overlay.Links.Count == (i == 0 || i == nodes.Length - 1 ? 1 : 2)).All(x => x),
            TimeSpan.FromSeconds(20), "the chain of 5 nodes is linked");
        var master = nodes[0];
        var last = nodes[^1];

        // Throughput, bulk calls.
        var objects = Payload.Objects(seed: 2, 0, bulk);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < bulk; i += batch) master.Replicator.Add("adds", objects.GetRange(i, Math.Min(batch, bulk - i)));
        v["bulk_add_loop_s"] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        var (count, digest) = BenchNet.Summary(master, "adds");
        double s = await BenchNet.WaitDigest(last, "adds", count, digest, t0, TimeSpan.FromSeconds(60 + bulk / 10_000.0), "live adds (bulk)");
        v["bulk_s"] = s;
        v["bulk_rate"] = bulk / s;
        // CPU of all five nodes (one process) per object, summed over the hops: what the 2 cores must fit.
        v["bulk_cpu_us"] = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMicroseconds / bulk;
        progress($"live adds: {bulk:N0} objects in calls of {batch} reached the 4th hop in {Fmt.Seconds(s)} ({Fmt.Rate(bulk / s)}; the adds took {Fmt.Seconds(v["bulk_add_loop_s"])}); " +
                 $"{v["bulk_cpu_us"]:F2} µs of CPU per object over the five nodes");

        // Throughput, one object per call.
        objects = Payload.Objects(seed: 3, 0, singles);
        t0 = Stopwatch.GetTimestamp();
        foreach (var o in objects) master.Replicator.Add("singles", [o]);
        v["single_add_loop_s"] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        (count, digest) = BenchNet.Summary(master, "singles");
        s = await BenchNet.WaitDigest(last, "singles", count, digest, t0, TimeSpan.FromSeconds(60 + singles / 1000.0), "live adds (single)");
        v["single_s"] = s;
        v["single_rate"] = singles / s;
        progress($"live adds: {singles:N0} objects one per call in {Fmt.Seconds(s)} ({Fmt.Rate(singles / s)})");

        // Latency, one object per call, paced.
        objects = Payload.Objects(seed: 4, 0, samples);
        var sent = new long[samples];
        var index = new Dictionary<string, int>();
        for (int i = 0; i < samples; i++) index[ObjectHash.Of(objects[i]).ToString()] = i;
        var arrived = new long[samples];
        int got = 0;
        using var cts = new CancellationTokenSource();
        var ready = new TaskCompletionSource();
        var listener = Task.Run(async () =>
        {
            var stream = last.GetTable("latency").Subscribe(new EventSubscription("latency"), cts.Token);
            await using var e = stream.GetAsyncEnumerator(cts.Token);
            var next = e.MoveNextAsync();
            ready.TrySetResult();
            while (await next)
            {
                long now = Stopwatch.GetTimestamp();
                if (e.Current.Type == DtEventTypes.ObjectAdded && e.Current.Hash is { } h && index.TryGetValue(h, out int i))
                {
                    arrived[i] = now;
                    if (Interlocked.Increment(ref got) == samples) return;
                }
                next = e.MoveNextAsync();
            }
        });
        await ready.Task;
        await Task.Delay(50);
        for (int i = 0; i < samples; i++)
        {
            sent[i] = Stopwatch.GetTimestamp();
            master.Replicator.Add("latency", [objects[i]]);
            await Task.Delay(1);
        }
        if (await Task.WhenAny(listener, Task.Delay(TimeSpan.FromSeconds(30))) != listener)
            throw new TimeoutException($"live adds (latency): the last node's event stream had {Volatile.Read(ref got)} of {samples} objects after 30 s");
        await cts.CancelAsync();
        var lat = Enumerable.Range(0, samples).Select(i => (arrived[i] - sent[i]) * 1000.0 / Stopwatch.Frequency).Order().ToArray();
        v["lat_p50_ms"] = Percentile(lat, 0.50);
        v["lat_p99_ms"] = Percentile(lat, 0.99);
        v["lat_max_ms"] = lat[^1];
        progress($"live adds latency to the 4th hop: p50 {Fmt.Ms(v["lat_p50_ms"])}, p99 {Fmt.Ms(v["lat_p99_ms"])}");

        // The chain must still be a chain (no node switched its primary to a shortcut).
        v["chain_intact"] = nodes.Select((n, i) => n.Overlay.Links.Count == (i == 0 || i == nodes.Length - 1 ? 1 : 2)).All(x => x) ? 1 : 0;
        return v;
    }

    private static DtOptions Chain(DtOptions o)
    {
        o.NodeTestInterval = TimeSpan.FromHours(1);
        o.MaxOutboundLinks = 1;
        return o;
    }

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
