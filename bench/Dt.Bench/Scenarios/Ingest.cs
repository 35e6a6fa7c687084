using System.Diagnostics;
using System.Text.Json;
using Dt.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dt.Bench.Scenarios;

/// <summary>
/// Ingest through real <c>Dt.Silo</c> processes (a master; tables on disk as the silo stores them by default, in
/// memory with <c>--storage memory</c>), the HTTP API and the Orleans grain path side by side:
/// <list type="bullet">
/// <item>batches: <c>AddObjects</c> of 1,000 objects per call, one call at a time (HTTP: <c>POST objects:batch</c>
/// with a JSON array; Orleans: <c>ITableGrain.AddObjects</c> through an Orleans client at the silo's gateway);</item>
/// <item>single adds: one object per call, one call at a time; every call returns once the change is on disk, so this
/// is a latency figure (p50/p99 per call) as much as a rate.</item>
/// </list>
/// The bulk paths (issue 13), measured the same way: HTTP <c>POST objects:ingest</c> with NDJSON of 1,000 lines per
/// request; the grain's raw-UTF-8 <c>ITableGrain.AddObjectsUtf8</c> of 1,000 values per call; and one streamed ingest
/// of every object from a file through <c>DtClient.IngestAsync</c> (what <c>dt import</c> runs).
/// Each batch path runs on a silo of its own and is warmed up first (JIT, connections) with calls that are not
/// counted; the single adds, the streamed ingest and the reads share one more silo.
/// </summary>
public static class Ingest
{
    /// <summary>
    /// Uncounted batches per path before the clock starts. A long-running silo runs its hot paths fully optimized; with
    /// 5 warm-up calls the measured calls still ran partly unoptimized code (perf showed the index lookups and the
    /// canonicalizer at tier 0, and the JIT's tiering thread at 9 % of the silo's samples), and with 100 on a fresh
    /// silo the silo's CPU per object was still 3x its steady figure. 700 also take the log through its first
    /// compaction (at 64 MiB: about 620k objects of 100 B, each about 105 bytes in the log), which the measured calls
    /// would otherwise meet: a snapshot of the whole table in a window of 200k objects.
    /// </summary>
    private const int WarmUpBatches = 700;

    /// <summary>A Dt.Silo master for one part of the run, with an HTTP client and an Orleans client at it.</summary>
    private sealed class IngestSilo : IAsyncDisposable
    {
        public required SiloPipeline.SiloProcess Process { get; init; }
        public required HttpClient Http { get; init; }
        public required IHost Client { get; init; }
        public required ITableGrain GrainTable { get; init; }
        public required string Root { get; init; }

        public static async Task<IngestSilo> StartAsync(string dll, Dt.Hosting.DtStorage storage)
        {
            var net = new BenchNet();
            string root = Path.Combine(Path.GetTempPath(), "dt-bench-ingest-" + Guid.NewGuid().ToString("N")[..8]);
            int api = SiloPipeline.FreePort(), gateway = SiloPipeline.FreePort();
            string[] args = [$"--Dt:Key={net.Key}", "--Dt:Master=true", $"--Dt:MasterKey={net.MasterKey.ExportPrivateBase64()}",
                "--Dt:ListenAddress=127.0.0.1", $"--Dt:Port={SiloPipeline.FreePort()}", $"--Dt:DataDir={root}",
                $"--Cluster:SiloPort={SiloPipeline.FreePort()}", $"--Cluster:GatewayPort={gateway}", "--urls", $"http://127.0.0.1:{api}",
                "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning",
                $"--Dt:Storage={storage}"];
            var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5), BaseAddress = new Uri($"http://127.0.0.1:{api}") };
            var process = new SiloPipeline.SiloProcess(dll, args);
            IHost? host = null;
            try
            {
                await process.WaitReadyAsync(http, api, TimeSpan.FromSeconds(60));
                var builder = Host.CreateApplicationBuilder();
                builder.Logging.SetMinimumLevel(LogLevel.Warning);
                builder.UseDtOrleansClient(o => o.GatewayPorts = [gateway]);
                host = builder.Build();
                await host.StartAsync();
                var table = host.Services.GetRequiredService<IDtGrainFactory>().GetTable("ingest-grain");
                return new IngestSilo { Process = process, Http = http, Client = host, GrainTable = table, Root = root };
            }
            catch
            {
                host?.Dispose();
                http.Dispose();
                await process.StopAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            try { await Client.StopAsync(); } finally { Client.Dispose(); }
            Http.Dispose();
            await Process.StopAsync();
            try { if (Directory.Exists(Root)) Directory.Delete(Root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public static async Task<Values> RunAsync(int batches, int singles, Dt.Hosting.DtStorage storage, Action<string> progress)
    {
        string dll = await SiloPipeline.EnsureBuiltAsync();
        var v = new Values();
        long seq = 0;
        JsonElement Next() => JsonSerializer.Deserialize<JsonElement>(Payload.Object(3, seq++)); // a fresh object each time

        // Inputs, made before the clock starts: the figures are the silo's and the path's, not the bench's own JSON
        // work (an HTTP caller holds bytes, an Orleans caller JsonElements or UTF-8 values).
        byte[] ArrayBatch()
        {
            var array = new MemoryStream();
            array.WriteByte((byte)'[');
            for (int i = 0; i < 1000; i++)
            {
                if (i > 0) array.WriteByte((byte)',');
                array.Write(Payload.Object(4, seq++));
            }
            array.WriteByte((byte)']');
            return array.ToArray();
        }
        byte[] NdjsonBatch()
        {
            var ndjson = new MemoryStream();
            for (int i = 0; i < 1000; i++)
            {
                ndjson.Write(Payload.Object(6, seq++));
                ndjson.WriteByte((byte)'\n');
            }
            return ndjson.ToArray();
        }
        static async Task Post(IngestSilo silo, string path, byte[] body, string contentType)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new(contentType);
            using var r = await silo.Http.PostAsync(path, content);
            if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"{path} refused: {(int)r.StatusCode}");
        }
        var paths = new (string Name, Func<object> Make, Func<IngestSilo, object, Task> Call)[]
        {
            ("http", ArrayBatch, (s, b) => Post(s, "/v1/tables/ingest-http/objects:batch", (byte[])b, "application/json")),
            ("grain", () => Enumerable.Range(0, 1000).Select(_ => Next()).ToArray(), (s, b) => s.GrainTable.AddObjects((JsonElement[])b)),
            ("ndjson", NdjsonBatch, (s, b) => Post(s, "/v1/tables/ingest-ndjson/objects:ingest", (byte[])b, "application/x-ndjson")),
            ("grain_utf8", () => Enumerable.Range(0, 1000).Select(_ => Payload.Object(7, seq++)).ToList(), (s, b) => s.GrainTable.AddObjectsUtf8((List<byte[]>)b)),
        };

        // Each path on a silo of its own, one call at a time, each call timed, in the silo's steady state: after
        // uncounted calls and once the silo is idle again. Measured on one silo, the paths disturbed each other: in
        // turn, each call paid for the switch from another API (a path measured alone ran 1.4x faster), and one after
        // the other, the first paths after the warm-up paid for the JIT's tiering and the log's compaction (silo CPU
        // per object 7 us there, 3 us later).
        foreach (var (name, make, call) in paths)
        {
            await using var silo = await IngestSilo.StartAsync(dll, storage);
            for (int i = 0; i < WarmUpBatches; i++) await call(silo, make());
            var inputs = new object[batches];
            for (int i = 0; i < batches; i++) inputs[i] = make();
            await silo.Process.WaitIdleAsync(TimeSpan.FromSeconds(30));
            var cpu = silo.Process.CpuTime;
            long t = Stopwatch.GetTimestamp();
            foreach (var input in inputs) await call(silo, input);
            double spent = Stopwatch.GetElapsedTime(t).TotalSeconds;
            v[$"{name}_batch_rate"] = batches * 1000 / spent;
            v[$"{name}_silo_us"] = (silo.Process.CpuTime - cpu).TotalSeconds * 1e6 / (batches * 1000);
            progress($"[ingest] {name}: batches {Fmt.Rate(v[$"{name}_batch_rate"])} objects, silo CPU {v[$"{name}_silo_us"]:0.0} µs/object");
        }

        // Single adds, the streamed ingest and the reads on one more silo, warmed up the same way.
        await using (var silo = await IngestSilo.StartAsync(dll, storage))
        {
            for (int i = 0; i < WarmUpBatches; i++) await paths[0].Call(silo, paths[0].Make());
            await silo.Process.WaitIdleAsync(TimeSpan.FromSeconds(30));
            var http = silo.Http;
            var table = silo.GrainTable;
            string root = silo.Root;
            async Task HttpSingle()
            {
                using var content = new ByteArrayContent(Payload.Object(5, seq++));
                content.Headers.ContentType = new("application/json");
                using var r = await http.PostAsync("/v1/tables/ingest-http/objects", content);
                if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"HTTP add refused: {(int)r.StatusCode}");
            }
            Task GrainSingle() => table.AddObject(Next());

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
