using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Dt.Hosting;
using Dt.Replication;
using Dt.Model;

namespace Dt.Bench;

/// <summary>
/// One node in its own process (<c>Dt.Bench child ...</c>), driven by the parent over stdin/stdout so that resident
/// memory is the node's own. Replies are one JSON line each, starting with '@'.
/// Commands: <c>load N SEED</c>, <c>change K SEED BASE</c> (remove ids [0,K) one call each, add ids [BASE,BASE+K)),
/// <c>wait COUNT DIGEST TIMEOUT_S</c> (seconds since the node last started), <c>stop</c>, <c>start</c>, <c>stats</c>, <c>exit</c>.
/// </summary>
public static class Child
{
    public static async Task<int> RunAsync(string[] args)
    {
        var a = new Dictionary<string, string>();
        for (int i = 1; i + 1 < args.Length; i += 2) a[args[i].TrimStart('-')] = args[i + 1];
        string table = a.GetValueOrDefault("table", "bench");
        bool master = a.ContainsKey("master-key");
        var options = new DtOptions
        {
            Key = a["key"],
            Master = master,
            MasterKey = a.GetValueOrDefault("master-key"),
            ListenAddress = "127.0.0.1",
            Port = 0,
            Storage = a.GetValueOrDefault("storage", "memory") == "disk" ? DtStorage.Disk : DtStorage.Memory,
            DataDir = a.GetValueOrDefault("datadir", "dt-bench-data"),
        };
        options.TrustedMasterKeys.Add(a["trust"]);
        if (a.TryGetValue("peer", out var peer)) options.Peers.Add(peer);

        NodeStore? store = null;
        // Profiling hook: wait for a file before starting the node, so a profiler can attach to this process first.
        if (a.TryGetValue("wait-file", out var waitFile))
        {
            Console.Error.WriteLine($"child {Environment.ProcessId} waiting for {waitFile}");
            while (!File.Exists(waitFile)) await Task.Delay(50);
        }
        // Diagnostics hook: which types this node process allocates, printed when its sync is measured.
        using var ticks = Environment.GetEnvironmentVariable("DT_BENCH_ALLOCATIONS") == "1" ? new AllocationTicks() : null;
        long started = Stopwatch.GetTimestamp();
        var node = await DtNode.StartAsync(options);
        // What the node holds when it starts serving: from a log on disk, what the restart scenario measures.
        var held = node.Replicator.Find(table);
        foreach (var l in ticks?.Report() ?? []) Console.Error.WriteLine($"child {Environment.ProcessId} allocated by its start: {l}");
        Reply(new { port = node.Port, node = node.NodeId, startSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds,
            sinceProcessStart = (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalSeconds,
            count = held?.LiveCount ?? 0, digest = held?.LiveDigest ?? "", faults = Machine.PageFaults(), cpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds });
        string? line;
        while ((line = Console.In.ReadLine()) is not null)
        {
            var c = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (c.Length == 0) continue;
            try
            {
                switch (c[0])
                {
                    case "load":
                    {
                        var sw = Stopwatch.StartNew();
                        long payload = BenchNet.Load(node!, table, long.Parse(c[1], CultureInfo.InvariantCulture), int.Parse(c[2], CultureInfo.InvariantCulture));
                        await node!.Replicator.WhenDurable();
                        var (n, d) = BenchNet.Summary(node, table);
                        Reply(new { count = n, digest = d, payload, seconds = sw.Elapsed.TotalSeconds });
                        break;
                    }
                    case "change":
                    {
                        long k = long.Parse(c[1], CultureInfo.InvariantCulture);
                        int seed = int.Parse(c[2], CultureInfo.InvariantCulture);
                        for (long i = 0; i < k; i++) node!.Replicator.Remove(table, ObjectHash.Of(Payload.Object(seed, i)));
                        BenchNet.Load(node!, table, k, seed, start: long.Parse(c[3], CultureInfo.InvariantCulture));
                        await node!.Replicator.WhenDurable();
                        var (n, d) = BenchNet.Summary(node, table);
                        var t = node.Replicator.Find(table)!;
                        long bytes = (long)t.LiveJsonBytes;
                        Reply(new { count = n, digest = d, tableBytes = bytes });
                        break;
                    }
                    case "wait":
                    {
                        var (s, link) = await BenchNet.WaitDigestAndLink(node!, table, long.Parse(c[1], CultureInfo.InvariantCulture), c[2], started,
                            TimeSpan.FromSeconds(double.Parse(c[3], CultureInfo.InvariantCulture)), "child");
                        long wireAt = BenchNet.Wire(node!);
                        await Task.Delay(300);
                        foreach (var l in ticks?.Report() ?? []) Console.Error.WriteLine($"child {Environment.ProcessId} allocated: {l}");
                        var me = Process.GetCurrentProcess();
                        Reply(new { seconds = s, link, wire = BenchNet.Wire(node!), wireAt, cpu = me.TotalProcessorTime.TotalSeconds,
                            gc0 = GC.CollectionCount(0), gc1 = GC.CollectionCount(1), gc2 = GC.CollectionCount(2),
                            gcPauseMs = GC.GetTotalPauseDuration().TotalMilliseconds, allocated = GC.GetTotalAllocatedBytes(), faults = Machine.PageFaults() });
                        break;
                    }
                    case "stop":
                        store = options.Storage == DtStorage.Memory ? node!.Store : null;
                        await node!.DisposeAsync();
                        node = null;
                        Reply(new { });
                        break;
                    case "start":
                        started = Stopwatch.GetTimestamp();
                        node = await DtNode.StartAsync(options, null, store);
                        Reply(new { port = node.Port });
                        break;
                    case "stats":
                    {
                        // A node settles after a bulk: once quiet it returns what the transfer's buffers took (DtOptions.TrimMemoryAfterBytes).
                        var settle = Stopwatch.StartNew();
                        while (node!.MemoryTrims == 0 && node.Options.TrimMemoryAfterBytes > 0 && settle.Elapsed < TimeSpan.FromSeconds(5)) await Task.Delay(50);
                        Scenarios.SyncPipeline.Collect();
                        var (rss, peak) = Machine.Rss();
                        var (n, d) = BenchNet.Summary(node!, table);
                        Reply(new { rss, peak, trims = node.MemoryTrims, heap = GC.GetTotalMemory(false), committed = GC.GetGCMemoryInfo().TotalCommittedBytes, count = n, digest = d, wire = BenchNet.Wire(node!) });
                        break;
                    }
                    case "cpu":
                        Reply(new { cpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, faults = Machine.PageFaults() });
                        break;
                    case "exit":
                        if (node is not null) await node.DisposeAsync();
                        Reply(new { });
                        return 0;
                    default:
                        Reply(new { error = $"unknown command {c[0]}" });
                        break;
                }
            }
            catch (Exception e)
            {
                Reply(new { error = e.Message });
            }
        }
        if (node is not null) await node.DisposeAsync();
        return 0;
    }

    private static void Reply(object value)
    {
        Console.Out.WriteLine("@" + JsonSerializer.Serialize(value));
        Console.Out.Flush();
    }
}

/// <summary>The parent's handle on a child node process.</summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _p;

    private ChildProcess(Process p) => _p = p;

    public int Pid => _p.Id;

    public static async Task<(ChildProcess Child, JsonElement Ready)> StartAsync(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string exe = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(exe).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            psi.FileName = exe;
            psi.ArgumentList.Add(typeof(Child).Assembly.Location);
        }
        else psi.FileName = exe;
        psi.ArgumentList.Add("child");
        foreach (var x in args) psi.ArgumentList.Add(x);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start a child process");
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"  [child {p.Id}] {e.Data}"); };
        p.BeginErrorReadLine();
        var c = new ChildProcess(p);
        return (c, await c.ReadReplyAsync(TimeSpan.FromSeconds(60)));
    }

    public async Task<JsonElement> SendAsync(string command, TimeSpan timeout)
    {
        await _p.StandardInput.WriteLineAsync(command);
        await _p.StandardInput.FlushAsync();
        return await ReadReplyAsync(timeout);
    }

    private async Task<JsonElement> ReadReplyAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            string? line;
            try { line = await _p.StandardOutput.ReadLineAsync(cts.Token); }
            catch (OperationCanceledException) { throw new TimeoutException($"child {_p.Id} did not answer within {timeout.TotalSeconds:0} s"); }
            if (line is null) throw new InvalidOperationException($"child {_p.Id} exited (code {(_p.HasExited ? _p.ExitCode : -1)})");
            if (!line.StartsWith('@')) continue;
            var e = JsonDocument.Parse(line[1..]).RootElement.Clone();
            if (e.TryGetProperty("error", out var err)) throw new InvalidOperationException($"child {_p.Id}: {err.GetString()}");
            return e;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_p.HasExited)
            {
                await _p.StandardInput.WriteLineAsync("exit");
                await _p.StandardInput.FlushAsync();
                if (!_p.WaitForExit(10_000)) _p.Kill();
            }
        }
        catch (IOException) { }
        catch (InvalidOperationException) { }
        _p.Dispose();
    }
}
