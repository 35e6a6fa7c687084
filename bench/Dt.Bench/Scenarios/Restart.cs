using System.Diagnostics;
using Dt.Hosting;

namespace Dt.Bench.Scenarios;

/// <summary>
/// A node holding N objects on disk restarts: a child process loads N objects (tables on disk, every batch fsynced),
/// exits cleanly, and a new process opens the same data directory. Measured: from spawning the new process to the node
/// serving its table (the child answers once <c>DtNode.StartAsync</c> returned, the table loaded from the snapshot and
/// the log and checked: CRC per record, SHA-256 per object), and the replay rate (objects loaded ÷ the node's start time).
/// </summary>
public static class Restart
{
    public static async Task<Values> RunAsync(long n, Action<string> progress)
    {
        var v = new Values();
        var net = new BenchNet();
        string root = Path.Combine(Path.GetTempPath(), "dt-bench-restart-" + Guid.NewGuid().ToString("N")[..8]);
        string[] args = ["--key", net.Key, "--trust", net.MasterKey.PublicKeyBase64, "--table", SyncPipeline.Table, "--storage", "disk",
            "--master-key", net.MasterKey.ExportPrivateBase64(), "--datadir", root];
        var timeout = SyncPipeline.Timeout(n);
        try
        {
            string digest;
            var (first, _) = await ChildProcess.StartAsync(args);
            await using (first)
            {
                var loaded = await first.SendAsync($"load {n} 1", timeout + timeout);
                v["payload"] = loaded.GetProperty("payload").GetInt64();
                digest = loaded.GetProperty("digest").GetString()!;
                progress($"[restart] {n:N0} objects loaded and durable in {Fmt.Seconds(loaded.GetProperty("seconds").GetDouble())}");
            }
            v["disk_bytes"] = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

            var spawn = Stopwatch.StartNew();
            var (second, ready) = await ChildProcess.StartAsync(args);
            await using (second)
            {
                v["serving_s"] = spawn.Elapsed.TotalSeconds;
                v["start_s"] = ready.GetProperty("startSeconds").GetDouble();
                long count = ready.GetProperty("count").GetInt64();
                if (count != n || ready.GetProperty("digest").GetString() != digest)
                    throw new InvalidOperationException($"the restarted node holds {count:N0} objects (digest {ready.GetProperty("digest").GetString()}), not the {n:N0} it stored");
                v["replay_rate"] = count / v["start_s"];
                v["restart_faults"] = ready.GetProperty("faults").GetInt64();
                v["restart_cpu_s"] = ready.GetProperty("cpu").GetDouble();
                progress($"[restart] serving {Fmt.Seconds(v["serving_s"])} after the process was spawned (node start {Fmt.Seconds(v["start_s"])}, {Fmt.Rate(v["replay_rate"])} objects); " +
                         $"process CPU {Fmt.Seconds(v["restart_cpu_s"])}, page faults {v["restart_faults"]:N0}");
            }
        }
        finally
        {
            try { if (Directory.Exists(root)) Directory.Delete(root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return v;
    }
}
