using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Dt.Bench;
using Dt.Bench.Scenarios;
using Dt.Hosting;

// Dt scenario benchmark: real nodes on loopback, one table of results. See docs/PERFORMANCE.md.
if (args.Length > 0 && args[0] == "child") return await Child.RunAsync(args);

BenchArgs opt;
try { opt = BenchArgs.Parse(args); }
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(BenchArgs.Usage);
    return 2;
}
if (opt.Help) { Console.WriteLine(BenchArgs.Usage); return 0; }

var clock = Stopwatch.StartNew();
void Progress(string s) => Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0}s] {s}");

Console.WriteLine($"Dt.Bench {(opt.Quick ? "--quick " : "")}on {Machine.Describe()}");
Console.WriteLine($"load average at start: {Machine.LoadAverage()}; storage: {opt.Storage.ToString().ToLowerInvariant()}; runs per figure: {opt.Repeat} (median{(opt.Repeat > 1 ? ", range in brackets" : "")})");

if (opt.Warmup)
{
    Progress("warm-up (JIT) ...");
    try
    {
        await SyncPipeline.RunAsync(2_000, opt.Storage, catchUp: true, _ => { });
        await Messages.ThroughputAsync(2_000, _ => { });
    }
    catch (Exception e) { Progress($"warm-up failed: {e.Message}"); }
}

var rows = new List<Row>();
var raw = new List<object>();
int failures = 0, runs = 0;
string storageNote = opt.Storage == DtStorage.Disk ? ", disk" : "";

async Task Job(string label, Func<Task<Values>> run, Func<Values, IEnumerable<Row>> toRows, Func<string, IEnumerable<Row>> failed)
{
    var results = new List<Values>();
    for (int r = 0; r < opt.Repeat; r++)
    {
        Progress($"{label}{(opt.Repeat > 1 ? $" (run {r + 1} of {opt.Repeat})" : "")} ...");
        try
        {
            results.Add(await run());
            runs++;
        }
        catch (Exception e)
        {
            failures++;
            Progress($"{label} FAILED: {e.Message}");
            rows.AddRange(failed(e.Message));
            return;
        }
        GC.Collect();
    }
    var v = Values.Combine(results);
    raw.Add(new { job = label, runs = results, combined = v });
    rows.AddRange(toRows(v));
}

bool sync = opt.Has("initial-sync"), catchUp = opt.Has("catch-up"), memory = opt.Has("memory");
if (sync || catchUp || memory)
{
    foreach (var (mode, n) in opt.SyncRuns())
    {
        string modeName = mode switch { "process" => "processes", "silo" => "Dt.Silo processes", _ => "in-process" } + (mode == "silo" ? ", disk" : storageNote);
        string size = Fmt.Count(n);
        await Job($"replication {modeName} N={size}",
            () => mode switch
            {
                "process" => ProcessPipeline.RunAsync(n, opt.Storage, catchUp, Progress),
                "silo" => SiloPipeline.RunAsync(n, catchUp, Progress),
                _ => SyncPipeline.RunAsync(n, opt.Storage, catchUp, Progress),
            },
            v => SyncRows(v, mode, modeName, n, size),
            msg => [new Row("initial sync / catch-up / memory", modeName, size, "did not complete: " + msg, "", "FAILED")]);
    }
}

if (opt.Has("live-adds"))
{
    var (bulk, singles, samples) = opt.Quick ? (5_000, 300, 200) : (200_000, 5_000, 2_000);
    await Job("live adds", () => LiveAdds.RunAsync(bulk, 1000, singles, samples, Progress), v =>
    [
        new Row("live adds, master → 4-node chain", "in-process", $"{Fmt.Count(bulk)} in calls of 1,000",
            $"{Fmt.Rate(v.Get("bulk_rate"))} objects ({v.Spread("bulk_s", Fmt.Seconds)} to the last node; CPU {v.Spread("bulk_cpu_us", x => $"{x:F2} µs")} per object, five nodes){Chain(v)}", "≥ 500 k/s (issue 13)",
            Fmt.Status(v.Get("bulk_rate") >= 500_000)),
        new Row("live adds, master → 4-node chain", "in-process", $"{Fmt.Count(singles)}, 1 per call",
            $"{Fmt.Rate(v.Get("single_rate"))} objects ({v.Spread("single_s", Fmt.Seconds)})", "(none set)", ""),
        new Row("live add latency, add → 4th hop event", "in-process", $"{samples:N0} adds, 1/ms",
            $"p50 {v.Spread("lat_p50_ms", Fmt.Ms)}, p99 {v.Spread("lat_p99_ms", Fmt.Ms)}", "(none set)", ""),
    ], msg => [new Row("live adds", "in-process", "", "did not complete: " + msg, "", "FAILED")]);
}

if (opt.Has("restart"))
{
    long n = opt.Quick ? 10_000 : 1_000_000;
    await Job($"restart from disk N={Fmt.Count(n)}", () => Restart.RunAsync(n, Progress), v =>
    [
        new Row("restart of a node holding N objects on disk", "processes, disk", Fmt.Count(n),
            $"serving its table {v.Spread("serving_s", Fmt.Seconds)} after its process was spawned (node start {v.Spread("start_s", Fmt.Seconds)}); " +
            $"replay {v.Spread("replay_rate", Fmt.Rate)} objects ({Fmt.Bytes(v.Get("disk_bytes"))} on disk)",
            "< 1 s; replay ≥ 2M/s", Fmt.Status(v.Get("serving_s") < 1 && v.Get("replay_rate") >= 2_000_000)),
    ], msg => [new Row("restart of a node holding N objects on disk", "processes, disk", Fmt.Count(n), "did not complete: " + msg, "", "FAILED")]);
}

// Starts a Release Dt.Silo: only when asked for, or in a full run (not in --quick).
if (opt.Selected.Contains("ingest") || (opt.Selected.Count == 0 && !opt.Quick))
{
    var (batches, singles) = opt.Quick ? (10, 200) : (200, 2_000);
    // The silo mode stores on disk unless --storage memory is asked for explicitly.
    var ingestStorage = opt.StorageGiven ? opt.Storage : DtStorage.Disk;
    string ingestMode = ingestStorage == DtStorage.Disk ? "disk" : "memory";
    await Job("ingest through a Dt.Silo", () => Ingest.RunAsync(batches, singles, ingestStorage, Progress), v =>
    [
        new Row("ingest through the silo, batches of 1,000", $"Dt.Silo process, {ingestMode}; HTTP", $"{Fmt.Count(batches * 1000)}, one call at a time",
            $"{v.Spread("http_batch_rate", Fmt.Rate)} objects, silo CPU {v.Get("http_silo_us"):0.0} µs/object", "≥ 200 k/s", Fmt.Status(v.Get("http_batch_rate") >= 200_000)),
        new Row("ingest through the silo, batches of 1,000", $"Dt.Silo process, {ingestMode}; Orleans client", $"{Fmt.Count(batches * 1000)}, one call at a time",
            $"{v.Spread("grain_batch_rate", Fmt.Rate)} objects, silo CPU {v.Get("grain_silo_us"):0.0} µs/object ({Fmt.Ratio(v.Get("grain_batch_rate") / v.Get("http_batch_rate"))} of HTTP)", "≥ 200 k/s, not slower than HTTP",
            Fmt.Status(v.Get("grain_batch_rate") >= 200_000 && v.Get("grain_batch_rate") >= v.Get("http_batch_rate"))),
        new Row("single adds through the silo (durable)", $"Dt.Silo process, {ingestMode}; HTTP", $"{singles:N0}, one call at a time",
            $"{v.Spread("http_single_rate", Fmt.Rate)} adds, p50 {v.Spread("http_p50_ms", Fmt.Ms)}, p99 {v.Spread("http_p99_ms", Fmt.Ms)}", "(none set)", ""),
        new Row("single adds through the silo (durable)", $"Dt.Silo process, {ingestMode}; Orleans client", $"{singles:N0}, one call at a time",
            $"{v.Spread("grain_single_rate", Fmt.Rate)} adds, p50 {v.Spread("grain_p50_ms", Fmt.Ms)}, p99 {v.Spread("grain_p99_ms", Fmt.Ms)}", "not slower than HTTP",
            Fmt.Status(v.Get("grain_single_rate") >= v.Get("http_single_rate"))),
        new Row("a read call (table summary)", "Dt.Silo process; HTTP vs Orleans client", $"{singles:N0}, one call at a time",
            $"HTTP p50 {v.Spread("http_read_p50_ms", Fmt.Ms)}, p99 {v.Spread("http_read_p99_ms", Fmt.Ms)}; grain p50 {v.Spread("grain_read_p50_ms", Fmt.Ms)}, p99 {v.Spread("grain_read_p99_ms", Fmt.Ms)}", "(none set)", ""),
        .. Ingest.BulkRows(v, ingestMode, batches),
    ], msg => [new Row("ingest through the silo", "Dt.Silo process", "", "did not complete: " + msg, "", "FAILED")]);
}

if (opt.Has("messages"))
{
    int m = opt.Quick ? 20_000 : 1_000_000;
    await Job("messages over one link", () => Messages.ThroughputAsync(m, Progress), v =>
    [
        new Row("messages over one encrypted link", "in-process", $"{Fmt.Count(m)} × ~100 B",
            // Issue 13: at least 500k/s sustained (1M), 200k/s for a 20k burst (quick mode), where warm-up dominates.
            $"{v.Spread("msg_rate", Fmt.Rate)} messages ({v.Get("msg_wire_per"):0} B each on the wire)", opt.Quick ? "≥ 200 k/s" : "≥ 500 k/s",
            Fmt.Status(v.Get("msg_rate") >= (opt.Quick ? 200_000 : 500_000))),
    ], msg => [new Row("messages over one encrypted link", "in-process", Fmt.Count(m), "did not complete: " + msg, "", "FAILED")]);
}

if (opt.Has("broadcast"))
{
    int k = opt.Quick ? 200 : 2_000;
    await Job("broadcast to 10 nodes", () => Messages.BroadcastAsync(k, Progress), v =>
    [
        new Row("broadcast latency, to all of 10 nodes", "in-process", $"{k:N0} msgs, 1/ms, tree 3 hops",
            $"p50 {v.Spread("all_p50_ms", Fmt.Ms)}, p99 {v.Spread("all_p99_ms", Fmt.Ms)} (per delivery p50 {Fmt.Ms(v.Get("each_p50_ms"))}, p99 {Fmt.Ms(v.Get("each_p99_ms"))})",
            "p99 < 10 ms", Fmt.Status(v.Get("all_p99_ms") < 10)),
    ], msg => [new Row("broadcast latency, to all of 10 nodes", "in-process", k.ToString(CultureInfo.InvariantCulture), "did not complete: " + msg, "", "FAILED")]);
}

if (opt.Has("gossip"))
{
    int n = 10, keys = 1_000, big = opt.Quick ? 10 : 100;
    await Job($"gossip: {keys:N0} keys to {n} nodes", () => Gossip.KeysAsync(n, keys, Progress), v =>
    [
        new Row("gossip: keys set on one node reach all", "in-process, LAN profile", $"{n} nodes, {keys:N0} keys",
            $"{v.Spread("keys_all_ms", Fmt.Ms)} from the first set to the last node (median node {Fmt.Ms(v.Get("keys_p50_ms"))}; the sets took {Fmt.Ms(v.Get("set_ms"))})",
            "(Telepathine: 7.6–12.6 s for 5)", ""),
    ], msg => [new Row("gossip: keys set on one node reach all", "in-process", $"{n} nodes", "did not complete: " + msg, "", "FAILED")]);
    await Job($"gossip: {big} nodes converge", () => Gossip.ClusterAsync(big, opt.Quick ? 1 : 5, Progress), v =>
    [
        new Row("gossip: cluster converges after start", "in-process, LAN, 3 s pause", $"{big} nodes, random tree",
            $"{v.Spread("converge_s", Fmt.Seconds)} after the last start ({Fmt.Seconds(v.Get("total_s"))} from the first; starts took {Fmt.Seconds(v.Get("start_s"))}); " +
            $"then {v.Get("hold_s"):0} s {(v.ContainsKey("fell_behind") ? "NOT " : "")}converged throughout, dead verdicts {v.Get("dead_verdicts"):0}",
            "converges and stays, no verdict", Fmt.Status(v.Get("dead_verdicts") == 0 && !v.ContainsKey("fell_behind"))),
    ], msg => [new Row("gossip: cluster converges after start", "in-process", $"{big} nodes", "did not complete: " + msg, "", "FAILED")]);
}

if (opt.Has("detection"))
{
    int n = opt.Quick ? 5 : 10;
    foreach (var (lan, profile, bound, target) in new[] { (true, "LAN profile", 5_000.0, "< 5 s"), (false, "test profile", 1_000.0, "< 1 s") })
        await Job($"detection, {profile}", () => Gossip.DetectionAsync(n, lan, Progress), v =>
        [
            new Row("failure detection: killed node declared dead by all", $"in-process, {profile}", $"{n} nodes, leaf killed",
                $"{v.Spread("det_all_ms", Fmt.Ms)} (first node {Fmt.Ms(v.Get("det_first_ms"))}); other verdicts {v.Get("false_verdicts"):0}",
                $"{target}, no other verdict", Fmt.Status(v.Get("det_all_ms") < bound && v.Get("false_verdicts") == 0)),
        ], msg => [new Row("failure detection", $"in-process, {profile}", $"{n} nodes", "did not complete: " + msg, "", "FAILED")]);
}

// Starts two Release Dt.Silo processes and rsync: only when asked for, or in a full run (not in --quick).
if (opt.Selected.Contains("files") || (opt.Selected.Count == 0 && !opt.Quick))
{
    long mb = opt.FilesMb ?? (opt.Quick ? 64 : 1024);
    string mode = "2 Dt.Silo processes, disk; HTTP";
    await Job($"file sync, {mb} MB", () => FileSync.RunAsync(mb * 1_000_000, Progress), v =>
    {
        string size = $"{Fmt.Bytes(v.Get("bytes"))}, {v.Get("files"):0} files (mixed)";
        bool rsync = v.ContainsKey("rsync_mbps");
        return
        [
            new Row("files: publish (chunk, hash, compress, send)", mode, size,
                $"{v.Spread("publish_mbps", x => $"{x:0} MB/s")} ({Fmt.Seconds(v.Get("publish_s"))}; sent {Fmt.Percent(v.Get("sent_ratio"))} of the bytes)", "(none set)", ""),
            new Row("files: mirror on the other node (fetch, check, write)", mode, size,
                $"{v.Spread("mirror_mbps", x => $"{x:0} MB/s")} ({Fmt.Seconds(v.Get("mirror_s"))}); replicated {Fmt.Seconds(v.Get("replicated_s"))} after the publish began", "(none set)", ""),
            new Row("files: publish → replicated → mirrored, vs rsync -a over loopback", mode, size,
                rsync ? $"Dt {v.Get("end_to_end_mbps"):0} MB/s, rsync {v.Get("rsync_mbps"):0} MB/s: {Fmt.Ratio(v.Get("end_to_end_mbps") / v.Get("rsync_mbps"))} rsync's rate"
                      : $"Dt {v.Get("end_to_end_mbps"):0} MB/s; rsync not installed", "(none set)", ""),
            new Row("files: 1 % of a large file changed, published again", mode, $"{Fmt.Bytes(v.Get("delta_file_bytes"))} file",
                $"{Fmt.Bytes(v.Get("delta_sent"))} sent ({Fmt.Percent(v.Get("delta_sent") / v.Get("delta_file_bytes"))} of the file)" +
                (rsync ? $"; rsync {Fmt.Bytes(v.Get("rsync_delta_sent"))}" : ""), "(none set)", ""),
        ];
    }, msg => [new Row("file sync", mode, $"{mb} MB", "did not complete: " + msg, "", "FAILED")]);
}

Console.WriteLine();
Console.Write(Table.Render(rows));
Console.WriteLine();
Console.WriteLine($"load average at end: {Machine.LoadAverage()}; wall time {clock.Elapsed.TotalSeconds:0} s");
if (opt.Json is not null)
{
    await File.WriteAllTextAsync(opt.Json, JsonSerializer.Serialize(new { machine = Machine.Describe(), quick = opt.Quick, rows, raw }, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"raw values written to {opt.Json}");
}
// Issue 13's memory goal: resident memory at most 1.5x the payload plus the runtime's fixed cost (about 70 MB).
const string MemoryGoal = "RSS ≤ 1.5× + 70 MB";
Console.WriteLine(failures == 0
    ? $"RESULT: all {runs} scenario runs completed and converged"
    : $"RESULT: {failures} scenario run(s) FAILED to complete or converge");
return failures == 0 ? 0 : 1;

static bool WithinMemoryGoal(Values v, string who) => v.Get($"rss_{who}_ratio") * v.Get("payload") - 70e6 <= 1.5 * v.Get("payload");

IEnumerable<Row> SyncRows(Values v, string mode, string modeName, long n, string size)
{
    bool headline = n >= 1_000_000;
    if (mode == "silo")
    {
        if (sync)
            yield return new Row("initial sync", modeName, size,
                $"{v.Spread("sync_s", Fmt.Seconds)} from process start (API up at {Fmt.Seconds(v.Get("sync_api_s"))}, link at {Fmt.Seconds(v.Get("sync_link_s"))}); wire: not exposed by the API",
                headline ? "< 2 s" : "", headline ? Fmt.Status(v.Get("sync_s") < 2) : "");
        if (catchUp && v.ContainsKey("catchup_s"))
            yield return new Row("catch-up after 1 % changed", modeName, size,
                $"{v.Spread("catchup_s", Fmt.Seconds)} from process start (API up at {Fmt.Seconds(v.Get("catchup_api_s"))}, link at {Fmt.Seconds(v.Get("catchup_link_s"))})", "", "");
        if (memory)
            yield return new Row("memory per node ÷ payload", modeName, size,
                $"RSS as running (no forced GC): new node {v.Spread("rss_node_ratio", Fmt.Ratio)} (peak {Fmt.Ratio(v.Get("rss_peak_node_ratio"))}), master {Fmt.Ratio(v.Get("rss_master_ratio"))} (peak {Fmt.Ratio(v.Get("rss_peak_master_ratio"))})",
                headline ? MemoryGoal : "", headline ? Fmt.Status(WithinMemoryGoal(v, "node") && WithinMemoryGoal(v, "master")) : "");
        yield break;
    }
    if (sync)
    {
        double s = v.Get("sync_s"), ratio = v.Get("sync_wire_ratio");
        yield return new Row("initial sync", modeName, size,
            $"{v.Spread("sync_s", Fmt.Seconds)} (link up at {Fmt.Seconds(v.Get("sync_link_s"))}), wire {v.Spread("sync_wire_ratio", Fmt.Ratio)} payload ({Fmt.Rate(n / (s - v.Get("sync_link_s")))} objects after link-up)",
            headline ? "< 1 s after link-up, ≤ 1.2×" : "≤ 1.2× wire",
            Fmt.Status(ratio <= 1.2 && (!headline || s - v.Get("sync_link_s") < 1)));
    }
    if (catchUp && v.ContainsKey("catchup_s"))
    {
        yield return new Row("catch-up after 1 % changed", modeName, size,
            $"{v.Spread("catchup_s", Fmt.Seconds)} (link up at {Fmt.Seconds(v.Get("catchup_link_s"))}), wire {v.Spread("catchup_wire_ratio", Fmt.Percent)} of the table ({Fmt.Bytes(v.Get("catchup_wire"))})",
            headline ? "< 2 % of table bytes, < 1 s" : "< 2 % of table bytes",
            Fmt.Status(v.Get("catchup_wire_ratio") < 0.02 && (!headline || v.Get("catchup_s") < 1)));
    }
    if (memory)
    {
        if (mode == "process")
            yield return new Row("memory per node ÷ payload", modeName, size,
                $"RSS: new node {v.Spread("rss_node_ratio", Fmt.Ratio)} (peak {Fmt.Ratio(v.Get("rss_peak_node_ratio"))}), master {Fmt.Ratio(v.Get("rss_master_ratio"))} (peak {Fmt.Ratio(v.Get("rss_peak_master_ratio"))}); " +
                $"managed heap: node {Fmt.Ratio(v.Get("heap_node_ratio"))}, master {Fmt.Ratio(v.Get("heap_master_ratio"))}; GC committed: node {Fmt.Ratio(v.Get("committed_node_ratio"))}",
                headline ? MemoryGoal : "", headline ? Fmt.Status(WithinMemoryGoal(v, "node") && WithinMemoryGoal(v, "master")) : "");
        else
            yield return new Row("memory per node ÷ payload", modeName, size,
                $"managed heap: new node {v.Spread("heap_node_ratio", Fmt.Ratio)}, master {Fmt.Ratio(v.Get("heap_master_ratio"))} (payload {Fmt.Bytes(v.Get("payload"))}; process RSS {Fmt.Bytes(v.Get("rss_process"))} for both)",
                "≤ 2× (RSS; heap shown)", "");
    }
}

static string Chain(Values v) => v.Get("chain_intact") == 1 ? "" : " (the chain re-formed during the run)";

/// <summary>Command line of the scenario benchmark.</summary>
sealed class BenchArgs
{
    public static readonly string[] Scenarios = ["initial-sync", "catch-up", "memory", "live-adds", "ingest", "messages", "broadcast", "gossip", "detection", "files", "restart"];

    public const string Usage = """
        Usage: dotnet run -c Release --project bench/Dt.Bench -- [options]
          --quick               small sizes (CI smoke run, well under a minute)
          --scenario NAME       run only these (repeatable or comma-separated): initial-sync, catch-up, memory,
                                live-adds, ingest (a Release Dt.Silo; not in --quick unless named), messages, broadcast,
                                gossip, detection, files (two Release Dt.Silo processes and rsync; not in --quick
                                unless named), restart (a node of 1M objects on disk restarts; quick 10k);
                                sweep = initial-sync,catch-up,memory
          --files-mb N          size of the files scenario's tree in MB (default 1024; quick 64)
          --size N[,N...]       table sizes for initial-sync / catch-up / memory (default 10000,100000,1000000; quick 10000)
          --mode M              inproc | process | silo | all (default all: every size in-process, the largest also as
                                bench child processes and as Dt.Silo processes; quick: in-process and child processes)
          --storage S           memory | disk (default memory)
          --repeat R            run each figure R times and report the median and range (default 1)
          --no-warmup           skip the JIT warm-up run
          --json FILE           also write every raw value as JSON
        """;

    public bool Quick, Help, Warmup = true;
    public int Repeat = 1;
    public string Mode = "all";
    public DtStorage Storage = DtStorage.Memory;
    public bool StorageGiven;
    public string? Json;
    public List<long>? Sizes;
    public long? FilesMb;
    public HashSet<string> Selected = [];

    public bool Has(string scenario) => Selected.Count == 0 || Selected.Contains(scenario);

    public IEnumerable<(string Mode, long N)> SyncRuns()
    {
        var sizes = Sizes ?? (Quick ? [10_000] : [10_000, 100_000, 1_000_000]);
        if (Mode is "inproc" or "all")
            foreach (var n in sizes) yield return ("inproc", n);
        if (Mode is "process" or "silo")
            foreach (var n in sizes) yield return (Mode, n);
        else if (Mode == "all")
        {
            yield return ("process", sizes.Max());
            if (!Quick) yield return ("silo", sizes.Max());
        }
    }

    public static BenchArgs Parse(string[] args)
    {
        var o = new BenchArgs();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "--quick": o.Quick = true; break;
                case "--help" or "-h": o.Help = true; break;
                case "--no-warmup": o.Warmup = false; break;
                case "--scenario":
                    foreach (var s in Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (s == "sweep") { o.Selected.UnionWith(["initial-sync", "catch-up", "memory"]); continue; }
                        if (!Scenarios.Contains(s)) throw new ArgumentException($"unknown scenario '{s}'");
                        o.Selected.Add(s);
                    }
                    break;
                case "--size" or "--sizes":
                    o.Sizes = Next().Split(',').Select(x => long.TryParse(x.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
                        ? n : throw new ArgumentException($"bad size '{x}'")).ToList();
                    break;
                case "--mode":
                    o.Mode = Next();
                    if (o.Mode is not ("inproc" or "process" or "silo" or "all")) throw new ArgumentException("--mode is inproc, process, silo or all");
                    break;
                case "--storage":
                    o.Storage = Next() switch { "memory" => DtStorage.Memory, "disk" => DtStorage.Disk, var x => throw new ArgumentException($"bad storage '{x}'") };
                    o.StorageGiven = true;
                    break;
                case "--repeat":
                    o.Repeat = int.TryParse(Next(), out var r) && r is > 0 and <= 100 ? r : throw new ArgumentException("--repeat takes 1 to 100");
                    break;
                case "--json": o.Json = Next(); break;
                case "--files-mb":
                    o.FilesMb = long.TryParse(Next(), out var mb) && mb is >= 1 and <= 100_000 ? mb : throw new ArgumentException("--files-mb takes 1 to 100000");
                    break;
                default: throw new ArgumentException($"unknown option '{a}'");
            }
        }
        return o;
    }
}
