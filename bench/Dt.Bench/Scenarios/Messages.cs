using System.Diagnostics;
using System.Text.Json;
using Dt.Hosting;

namespace Dt.Bench.Scenarios;

/// <summary>
/// Broadcast messages.
/// <list type="bullet">
/// <item>Throughput over one encrypted link: node A sends M messages of about 100 bytes of JSON with
/// <see cref="DtNode.SendMessage"/> as fast as its link drains (the sender pauses while more than 4 MB wait in
/// the link's queue, since a queue over its cap cuts the link); counted at B by its event log (no subscriber);
/// messages/s from the first send to the last delivery at B.</item>
/// <item>Latency of a broadcast to 10 nodes: 11 nodes in a binary tree under the sender (3 hops deep);
/// one message per millisecond carrying its send time; each receiver's message stream (the public
/// <see cref="IMessageStream.Subscribe"/>) records the arrival. Reported: the time until all 10 nodes have a
/// message (p50, p99), and per delivery.</item>
/// </list>
/// </summary>
public static class Messages
{
    public static async Task<Values> ThroughputAsync(int m, Action<string> progress)
    {
        var v = new Values();
        await using var net = new BenchNet();
        var a = await net.Start(Quiet(net.Options(master: false)));
        var b = await net.Start(Quiet(net.Options(master: false, a)));
        await BenchNet.WaitUntil(() => a.Overlay.Links.Count == 1 && b.Overlay.Links.Count == 1, TimeSpan.FromSeconds(20), "A and B are linked");
        var link = a.Overlay.Links[0];
        using var doc = JsonDocument.Parse("{\"data\":\"" + new string('x', 64) + "\",\"kind\":\"bench\",\"n\":1}");
        var message = doc.RootElement;
        long before = b.Events.LastId;
        long wire0 = Interlocked.Read(ref link.BytesSent);
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < m; i++)
        {
            while (link.QueuedBytes > 4 << 20) await Task.Delay(1);
            a.SendMessage(message);
        }
        v["send_loop_s"] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (b.Events.LastId - before < m)
        {
            if (Stopwatch.GetTimestamp() > deadline || link.IsClosed)
                throw new TimeoutException($"messages: B received {b.Events.LastId - before} of {m} (link {(link.IsClosed ? "closed" : "open")})");
            await Task.Delay(1);
        }
        double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        v["msg_s"] = s;
        v["msg_rate"] = m / s;
        v["msg_wire_per"] = (double)(Interlocked.Read(ref link.BytesSent) - wire0) / m;
        progress($"messages: {m:N0} over one link in {Fmt.Seconds(s)} ({Fmt.Rate(m / s)}), {v["msg_wire_per"]:0} bytes each on the wire");
        return v;
    }

    public static async Task<Values> BroadcastAsync(int k, Action<string> progress)
    {
        const int receivers = 10;
        var v = new Values();
        await using var net = new BenchNet();
        var nodes = new DtNode[receivers + 1];
        nodes[0] = await net.Start(Quiet(net.Options(master: false)));
        for (int i = 1; i <= receivers; i++) nodes[i] = await net.Start(Quiet(net.Options(master: false, nodes[(i - 1) / 2])));
        await BenchNet.WaitUntil(() => nodes.Sum(n => n.Overlay.Links.Count) == 2 * receivers, TimeSpan.FromSeconds(20), "the tree of 11 nodes is linked");

        var arrival = new double[k, receivers];
        var counts = new int[receivers];
        using var cts = new CancellationTokenSource();
        var listeners = new List<Task>();
        for (int r = 0; r < receivers; r++)
        {
            int rr = r;
            var ready = new TaskCompletionSource();
            listeners.Add(Task.Run(async () =>
            {
                await using var e = nodes[rr + 1].GetMessageStream().Subscribe(cts.Token).GetAsyncEnumerator(cts.Token);
                var next = e.MoveNextAsync();
                ready.TrySetResult();
                while (await next)
                {
                    long now = Stopwatch.GetTimestamp();
                    var p = e.Current.Payload;
                    if (p.ValueKind == JsonValueKind.Object && p.TryGetProperty("t", out var t) && p.TryGetProperty("i", out var ix))
                    {
                        arrival[ix.GetInt32(), rr] = (now - t.GetInt64()) * 1000.0 / Stopwatch.Frequency;
                        if (++counts[rr] == k) return;
                    }
                    next = e.MoveNextAsync();
                }
            }));
            await ready.Task;
        }
        await Task.Delay(50);
        for (int i = 0; i < k; i++)
        {
            long t = Stopwatch.GetTimestamp();
            using var doc = JsonDocument.Parse($"{{\"i\":{i},\"t\":{t}}}");
            nodes[0].SendMessage(doc.RootElement);
            await Task.Delay(1);
        }
        var all = Task.WhenAll(listeners);
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30))) != all)
            throw new TimeoutException($"broadcast: receivers got {string.Join(",", counts)} of {k} each after 30 s");
        await cts.CancelAsync();
        var toAll = new double[k];
        var each = new double[k * receivers];
        for (int i = 0; i < k; i++)
            for (int r = 0; r < receivers; r++)
            {
                toAll[i] = Math.Max(toAll[i], arrival[i, r]);
                each[i * receivers + r] = arrival[i, r];
            }
        Array.Sort(toAll);
        Array.Sort(each);
        v["all_p50_ms"] = LiveAdds.Percentile(toAll, 0.5);
        v["all_p99_ms"] = LiveAdds.Percentile(toAll, 0.99);
        v["each_p50_ms"] = LiveAdds.Percentile(each, 0.5);
        v["each_p99_ms"] = LiveAdds.Percentile(each, 0.99);
        progress($"broadcast to 10 nodes: all reached p50 {Fmt.Ms(v["all_p50_ms"])}, p99 {Fmt.Ms(v["all_p99_ms"])}");
        return v;
    }

    /// <summary>No node tests and one outbound link, so the configured topology stays as it is.</summary>
    private static DtOptions Quiet(DtOptions o)
    {
        o.NodeTestInterval = TimeSpan.FromHours(1);
        o.MaxOutboundLinks = 1;
        return o;
    }
}
