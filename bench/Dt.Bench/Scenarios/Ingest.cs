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
/// Each path is warmed up first (JIT, connections) with calls that are not counted.
/// </summary>
public static class Ingest
{
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
            for (int b = 0; b < batches + 5; b++)
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

            foreach (var (name, batch, single) in new (string, Func<Task>, Func<Task>)[] { ("http", HttpBatch, HttpSingle), ("grain", GrainBatch, GrainSingle) })
            {
                for (int i = 0; i < 5; i++) await batch();
                for (int i = 0; i < 50; i++) await single();
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < batches; i++) await batch();
                v[$"{name}_batch_rate"] = batches * 1000 / sw.Elapsed.TotalSeconds;
                var lat = new double[singles];
                sw.Restart();
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
                progress($"[ingest] {name}: batches {Fmt.Rate(v[$"{name}_batch_rate"])} objects, single adds {Fmt.Rate(v[$"{name}_single_rate"])} (p50 {Fmt.Ms(v[$"{name}_p50_ms"])}, p99 {Fmt.Ms(v[$"{name}_p99_ms"])})");
            }

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
}
