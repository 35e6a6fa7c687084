using System.Diagnostics;
using System.Text.Json;
using Dt.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dt.Bench.Scenarios;

/// <summary>
/// Ingest through a real <c>Dt.Silo</c> process (a master; tables on disk as the silo stores them by default, in memory
/// with <c>--storage memory</c>), the
/// HTTP API and the Orleans grain path side by side in one run, on separate tables:
/// <list type="bullet">
/// <item>batches: <c>AddObjects</c> of 1,000 objects per call, one call at a time (HTTP: <c>POST objects:batch</c>
/// with a JSON array; Orleans: <c>ITableGrain.AddObjects</c> through an Orleans client at the silo's gateway);</item>
/// <item>single adds: one object per call, one call at a time; every call returns once the change is on disk, so this
/// is a latency figure (p50/p99 per call) as much as a rate.</item>
/// </list>
/// The bulk paths (issue 13), measured the same way on their own tables: HTTP <c>POST objects:ingest</c> with NDJSON
/// of 1,000 lines per request; the grain's raw-UTF-8 <c>ITableGrain.AddObjectsUtf8</c> of 1,000 values per call;
/// and one streamed ingest of every object from a file through <c>DtClient.IngestAsync</c> (what <c>dt import</c> runs).
/// Each path is warmed up first (JIT, connections) with calls that are not counted.
/// </summary>
public static class Ingest
{
    /// <summary>
    /// Uncounted batches per path before the clock starts. A long-running silo runs its hot paths fully optimized; with
    /// 5 warm-up calls the measured calls still ran partly unoptimized code (perf showed the index lookups and the
    /// canonicalizer at tier 0, and the JIT's tiering thread at 9 % of the silo's samples).
    /// </summary>
    private const int WarmUpBatches = 100;

    public static async Task<Values> RunAsync(int batches, int singles, Dt.Hosting.DtStorage storage, Action<string> progress)
    {
        string silo = await SiloPipeline.EnsureBuiltAsync();
        var net = new BenchNet();
        string root = Path.Combine(Path.GetTempPath(), "dt-bench-ingest-" + Guid.NewGuid().ToString("N")[..8]);
        int api = SiloPipeline.FreePort(), gateway = SiloPipeline.FreePort();
        string[] args = [$"--Dt:Key={net.Key}", "--Dt:Master=true", $"--Dt:MasterKey={net.MasterKey.ExportPrivateBase64()}",
            "--Dt:ListenAddress=127.0.0.1", $"--Dt:Port={SiloPipeline.FreePort()}", $"--Dt:DataDir={root}",
            $"--Cluster:SiloPort={SiloPipeline.FreePort()}", $"--Cluster:GatewayPort={gateway}", "--urls", $"http://127.0.0.1:{api}",
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning",
            $"--Dt:Storage={storage}"];
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5), BaseAddress = new Uri($"http://127.0.0.1:{api}") };
        var process = new SiloPipeline.SiloProcess(silo, args);
        var v = new Values();
        try
        {
            await process.WaitReadyAsync(http, api, TimeSpan.FromSeconds(60));
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.UseDtOrleansClient(o => o.GatewayPorts = [gateway]);
            using var host = builder.Build();
            await host.StartAsync();
            var grains = host.Services.GetRequiredService<IDtGrainFactory>();
            var table = grains.GetTable("ingest-grain");
            long seq = 0;
            JsonElement Next() => JsonSerializer.Deserialize<JsonElement>(Payload.Object(3, seq++)); // a fresh object each time
            byte[] Batch(int size)
            {
                var sb = new MemoryStream();
                sb.WriteByte((byte)'[');
                for (int i = 0; i < size; i++)
                {
                    if (i > 0) sb.WriteByte((byte)',');
                    sb.Write(Payload.Object(4, seq++));
                }
                sb.WriteByte((byte)']');
                return sb.ToArray();
            }

            // The calls' inputs are made before the clock starts: the figures are the silo's and the path's, not the
            // bench's own JSON work (an HTTP caller holds bytes, an Orleans caller JsonElements).
            var httpBatches = new Queue<byte[]>();
            var grainBatches = new Queue<JsonElement[]>();
            for (int b = 0; b < batches + WarmUpBatches; b++)
            {
                httpBatches.Enqueue(Batch(1000));
                var list = new JsonElement[1000];
                for (int i = 0; i < list.Length; i++) list[i] = Next();
                grainBatches.Enqueue(list);
            }

            async Task HttpBatch()
            {
                using var content = new ByteArrayContent(httpBatches.Dequeue());
                content.Headers.ContentType = new("application/json");
                using var r = await http.PostAsync("/v1/tables/ingest-http/objects:batch", content);
                if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"HTTP batch refused: {(int)r.StatusCode}");
            }
            async Task HttpSingle()
            {
                using var content = new ByteArrayContent(Payload.Object(5, seq++));
                content.Headers.ContentType = new("application/json");
                using var r = await http.PostAsync("/v1/tables/ingest-http/objects", content);
                if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"HTTP add refused: {(int)r.StatusCode}");
            }
            Task GrainBatch() => table.AddObjects(grainBatches.Dequeue());


            Task GrainSingle() => table.AddObject(Next());

            // Bulk paths: NDJSON bytes for HTTP, raw UTF-8 values for the grain, all made before the clock starts.
            var ndjsonBatches = new Queue<byte[]>();
            var utf8Batches = new Queue<List<byte[]>>();
            for (int b = 0; b < batches + WarmUpBatches; b++)
            {
                var sb = new MemoryStream();
                var values = new List<byte[]>(1000);
                for (int i = 0; i < 1000; i++)
                {
                    sb.Write(Payload.Object(6, seq++));
                    sb.WriteByte((byte)'\n');
                    values.Add(Payload.Object(7, seq++));
                }
                ndjsonBatches.Enqueue(sb.ToArray());
                utf8Batches.Enqueue(values);
            }
            async Task NdjsonBatch()
            {
                using var content = new ByteArrayContent(ndjsonBatches.Dequeue());
                content.Headers.ContentType = new("application/x-ndjson");
                using var r = await http.PostAsync("/v1/tables/ingest-ndjson/objects:ingest", content);
                if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"NDJSON ingest refused: {(int)r.StatusCode}");
            }
            Task Utf8Batch() => table.AddObjectsUtf8(utf8Batches.Dequeue());

            // Batches of every path interleaved, one call at a time, each call timed: measured one path after the other,
            // the later ones met a warmer silo and the order alone moved a path's figure by up to 2x on a loaded machine.
            var paths = new (string Name, Func<Task> Batch)[] { ("http", HttpBatch), ("grain", GrainBatch), ("ndjson", NdjsonBatch), ("grain_utf8", Utf8Batch) };
            foreach (var (_, batch) in paths)
                for (int i = 0; i < WarmUpBatches; i++) await batch();
            var spent = new double[paths.Length];
            var siloCpu = new double[paths.Length];
            for (int i = 0; i < batches; i++)
                for (int k = 0; k < paths.Length; k++)
                {
                    var cpu = process.CpuTime;
                    long t = Stopwatch.GetTimestamp();
                    await paths[k].Batch();
                    spent[k] += Stopwatch.GetElapsedTime(t).TotalSeconds;
                    siloCpu[k] += (process.CpuTime - cpu).TotalSeconds;
                }
            for (int k = 0; k < paths.Length; k++)
            {
                v[$"{paths[k].Name}_batch_rate"] = batches * 1000 / spent[k];
                // The silo's own CPU per object (one call at a time, so a call's CPU is the silo's work for it; a
                // background snapshot falls into whichever call it overlaps).
                v[$"{paths[k].Name}_silo_us"] = siloCpu[k] * 1e6 / (batches * 1000);
                progress($"[ingest] {paths[k].Name}: batches {Fmt.Rate(v[$"{paths[k].Name}_batch_rate"])} objects, silo CPU {v[$"{paths[k].Name}_silo_us"]:0.0} µs/object");
            }

            foreach (var (name, single) in new (string, Func<Task>)[] { ("http", HttpSingle), ("grain", GrainSingle) })
            {
                for (int i = 0; i < 50; i++) await single();
                var lat = new double[singles];
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < singles; i++)
                {
                    long t = Stopwatch.GetTimestamp();
                    await single();
                    lat[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                }
                v[$"{name}_single_rate"] = singles / sw.Elapsed.TotalSeconds;
                Array.Sort(lat);
                v[$"{name}_p50_ms"] = LiveAdds.Percentile(lat, 0.50);
                v[$"{name}_p99_ms"] = LiveAdds.Percentile(lat, 0.99);
                progress($"[ingest] {name}: single adds {Fmt.Rate(v[$"{name}_single_rate"])} (p50 {Fmt.Ms(v[$"{name}_p50_ms"])}, p99 {Fmt.Ms(v[$"{name}_p99_ms"])})");
            }

            // One streamed ingest of every object from a file, as `dt import` sends it.
            string file = Path.Combine(root, "import.jsonl");
            await using (var f = File.Create(file))
                for (long i = 0; i < batches * 1000L; i++)
                {
                    f.Write(Payload.Object(8, i));
                    f.WriteByte((byte)'\n');
                }
            using (var client = new DtClient(new DtClientOptions { BaseAddress = http.BaseAddress! }))
            {
                await using var input = File.OpenRead(file);
                var sw = Stopwatch.StartNew();
                var result = await client.IngestAsync("ingest-import", input);
                v["import_rate"] = result.Objects / sw.Elapsed.TotalSeconds;
                if (result.Objects != batches * 1000L) throw new InvalidOperationException($"the streamed ingest stored {result.Objects} objects");
            }
            progress($"[ingest] streamed file: {Fmt.Rate(v["import_rate"])} objects");

            // Cheap reads too: a grain call that does no disk work, against GET of the same.
            var reads = new double[singles];
            for (int i = 0; i < singles; i++)
            {
                long t = Stopwatch.GetTimestamp();
                await table.GetSummary();
                reads[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
            Array.Sort(reads);
            v["grain_read_p50_ms"] = LiveAdds.Percentile(reads, 0.50);
            v["grain_read_p99_ms"] = LiveAdds.Percentile(reads, 0.99);
            for (int i = 0; i < singles; i++)
            {
                long t = Stopwatch.GetTimestamp();
                using var r = await http.GetAsync("/v1/tables/ingest-http");
                r.EnsureSuccessStatusCode();
                reads[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
            Array.Sort(reads);
            v["http_read_p50_ms"] = LiveAdds.Percentile(reads, 0.50);
            v["http_read_p99_ms"] = LiveAdds.Percentile(reads, 0.99);
            await host.StopAsync();
        }
        finally
        {
            await process.StopAsync();
            try { if (Directory.Exists(root)) Directory.Delete(root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return v;
    }

    /// <summary>The rows of the bulk paths (after the JSON-array and JsonElement rows).</summary>
    public static IEnumerable<Row> BulkRows(Values v, string mode, int batches) =>
    [
        new Row("ingest through the silo, batches of 1,000", $"Dt.Silo process, {mode}; HTTP NDJSON (objects:ingest)", $"{Fmt.Count(batches * 1000)}, one call at a time",
            $"{v.Spread("ndjson_batch_rate", Fmt.Rate)} objects, silo CPU {v.Get("ndjson_silo_us"):0.0} µs/object ({Fmt.Ratio(v.Get("ndjson_batch_rate") / v.Get("http_batch_rate"))} of the JSON array)", "≥ 200 k/s",
            Fmt.Status(v.Get("ndjson_batch_rate") >= 200_000)),
        new Row("ingest through the silo, batches of 1,000", $"Dt.Silo process, {mode}; Orleans client, raw UTF-8 (AddObjectsUtf8)", $"{Fmt.Count(batches * 1000)}, one call at a time",
            $"{v.Spread("grain_utf8_batch_rate", Fmt.Rate)} objects, silo CPU {v.Get("grain_utf8_silo_us"):0.0} µs/object ({Fmt.Ratio(v.Get("grain_utf8_batch_rate") / v.Get("grain_batch_rate"))} of JsonElements)", "≥ 200 k/s",
            Fmt.Status(v.Get("grain_utf8_batch_rate") >= 200_000)),
        new Row("ingest through the silo, one streamed body", $"Dt.Silo process, {mode}; HTTP NDJSON from a file (DtClient.IngestAsync, as dt import)", $"{Fmt.Count(batches * 1000)} in one request",
            $"{v.Spread("import_rate", Fmt.Rate)} objects", "≥ 200 k/s", Fmt.Status(v.Get("import_rate") >= 200_000)),
    ];
}
