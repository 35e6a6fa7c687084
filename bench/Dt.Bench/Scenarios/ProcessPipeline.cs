using System.Globalization;
using System.Text.Json;
using Dt.Hosting;

namespace Dt.Bench.Scenarios;

/// <summary>
/// The same steps as <see cref="SyncPipeline"/>, with the master and the new node each in its own process
/// (<c>Dt.Bench child</c>): resident memory per node is measured honestly, and the new node starts cold (JIT included).
/// </summary>
public static class ProcessPipeline
{
    public static async Task<Values> RunAsync(long n, DtStorage storage, bool catchUp, Action<string> progress)
    {
        var v = new Values();
        var net = new BenchNet();
        string root = Path.Combine(Path.GetTempPath(), "dt-bench-" + Guid.NewGuid().ToString("N")[..8]);
        var common = new List<string> { "--key", net.Key, "--trust", net.MasterKey.PublicKeyBase64, "--table", SyncPipeline.Table,
            "--storage", storage == DtStorage.Disk ? "disk" : "memory" };
        var timeout = SyncPipeline.Timeout(n);
        try
        {
            var (master, mready) = await ChildProcess.StartAsync([.. common, "--master-key", net.MasterKey.ExportPrivateBase64(), "--datadir", Path.Combine(root, "m")]);
            await using (master)
            {
                var loaded = await master.SendAsync($"load {n} 1", timeout + timeout);
                long payload = loaded.GetProperty("payload").GetInt64();
                v["payload"] = payload;
                v["load_s"] = loaded.GetProperty("seconds").GetDouble();
                progress($"[processes] master loaded {n:N0} objects in {Fmt.Seconds(v["load_s"])}");
                // DT_BENCH_NODE_WAIT_FILE: the new node's process waits for that file before starting its node (attach a profiler meanwhile).
                string[] wait = Environment.GetEnvironmentVariable("DT_BENCH_NODE_WAIT_FILE") is { Length: > 0 } wf ? ["--wait-file", wf] : [];
                // The master's share of the 2 cores while it serves the sync (from before the new node starts).
                var masterBefore = await master.SendAsync("cpu", timeout);
                var (node, _) = await ChildProcess.StartAsync([.. common, .. wait, "--peer", $"127.0.0.1:{mready.GetProperty("port").GetInt32()}", "--datadir", Path.Combine(root, "n")]);
                await using (node)
                {
                    var w = await node.SendAsync(Wait(loaded, timeout), timeout + TimeSpan.FromSeconds(10));
                    var masterAfter = await master.SendAsync("cpu", timeout);
                    v["sync_master_cpu_s"] = masterAfter.GetProperty("cpu").GetDouble() - masterBefore.GetProperty("cpu").GetDouble();
                    v["sync_master_faults"] = masterAfter.GetProperty("faults").GetInt64() - masterBefore.GetProperty("faults").GetInt64();
                    v["sync_s"] = w.GetProperty("seconds").GetDouble();
                    v["sync_link_s"] = w.GetProperty("link").GetDouble();
                    v["sync_wire"] = w.GetProperty("wire").GetInt64();
                    v["sync_wire_ratio"] = v["sync_wire"] / payload;
                    Gc(v, "sync", w);
                    progress($"[processes] initial sync {Fmt.Seconds(v["sync_s"])}, wire {Fmt.Ratio(v["sync_wire_ratio"])}; new node process: CPU {Fmt.Seconds(v["sync_cpu_s"])}, " +
                             $"GCs {v["sync_gc0"]}/{v["sync_gc1"]}/{v["sync_gc2"]} (gen0/1/2), pauses {Fmt.Ms(v["sync_gc_pause_ms"])}, allocated {Fmt.Bytes(v["sync_allocated"])}, page faults {v["sync_faults"]:N0}; " +
                             $"master process meanwhile: CPU {Fmt.Seconds(v["sync_master_cpu_s"])}, page faults {v["sync_master_faults"]:N0}");

                    var ms = await master.SendAsync("stats", timeout);
                    var ns = await node.SendAsync("stats", timeout);
                    Stats(v, "master", ms, payload);
                    Stats(v, "node", ns, payload);
                    progress($"[processes] RSS master {Fmt.Ratio(v["rss_master_ratio"])}, node {Fmt.Ratio(v["rss_node_ratio"])} of the payload " +
                             $"(memory trims: master {v["trims_master"]}, node {v["trims_node"]})");

                    if (catchUp)
                    {
                        await node.SendAsync("stop", timeout);
                        long k = Math.Max(1, n / 200);
                        var changed = await master.SendAsync($"change {k} 1 {n}", timeout);
                        v["table_bytes"] = changed.GetProperty("tableBytes").GetInt64();
                        await node.SendAsync("start", timeout);
                        w = await node.SendAsync(Wait(changed, timeout), timeout + TimeSpan.FromSeconds(10));
                        v["catchup_s"] = w.GetProperty("seconds").GetDouble();
                        v["catchup_link_s"] = w.GetProperty("link").GetDouble();
                        v["catchup_wire"] = w.GetProperty("wire").GetInt64();
                        v["catchup_wire_ratio"] = v["catchup_wire"] / v["table_bytes"];
                        progress($"[processes] catch-up {Fmt.Seconds(v["catchup_s"])}, wire {Fmt.Percent(v["catchup_wire_ratio"])} of the table");
                    }
                }
            }
        }
        finally
        {
            try { if (Directory.Exists(root)) Directory.Delete(root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return v;
    }

    private static void Gc(Values v, string what, JsonElement w)
    {
        v[$"{what}_cpu_s"] = w.GetProperty("cpu").GetDouble();
        v[$"{what}_gc0"] = w.GetProperty("gc0").GetInt32();
        v[$"{what}_gc1"] = w.GetProperty("gc1").GetInt32();
        v[$"{what}_gc2"] = w.GetProperty("gc2").GetInt32();
        v[$"{what}_gc_pause_ms"] = w.GetProperty("gcPauseMs").GetDouble();
        v[$"{what}_allocated"] = w.GetProperty("allocated").GetInt64();
        v[$"{what}_faults"] = w.GetProperty("faults").GetInt64();
    }

    private static string Wait(JsonElement summary, TimeSpan timeout) =>
        $"wait {summary.GetProperty("count").GetInt64()} {summary.GetProperty("digest").GetString()} {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}";

    private static void Stats(Values v, string who, JsonElement s, long payload)
    {
        v[$"rss_{who}"] = s.GetProperty("rss").GetInt64();
        v[$"rss_peak_{who}"] = s.GetProperty("peak").GetInt64();
        v[$"heap_{who}"] = s.GetProperty("heap").GetInt64();
        v[$"trims_{who}"] = s.GetProperty("trims").GetInt32();
        v[$"committed_{who}"] = s.GetProperty("committed").GetInt64();
        v[$"committed_{who}_ratio"] = v[$"committed_{who}"] / payload;
        v[$"rss_{who}_ratio"] = v[$"rss_{who}"] / payload;
        v[$"rss_peak_{who}_ratio"] = v[$"rss_peak_{who}"] / payload;
        v[$"heap_{who}_ratio"] = v[$"heap_{who}"] / payload;
    }
}
