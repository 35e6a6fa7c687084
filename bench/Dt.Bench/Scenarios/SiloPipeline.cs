using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Dt.Replication;
using Dt.Model;

namespace Dt.Bench.Scenarios;

/// <summary>
/// Initial sync, memory and catch-up with each node a real <c>Dt.Silo</c> process (its HTTP API on loopback, tables
/// on disk as the silo stores them by default), driven only through the HTTP API:
/// <list type="bullet">
/// <item>the master silo is loaded through <c>POST /v1/tables/bench/objects:batch</c> (NDJSON, 30,000 objects per request);</item>
/// <item>initial sync: seconds from launching the new silo's process until <c>GET /v1/tables/bench</c> reports the
/// master's digest (process start, host start and JIT included; the API and the link coming up are reported too);</item>
/// <item>memory: resident set (VmRSS, and its peak VmHWM) of each silo process, as the OS reports it, without forcing a GC;</item>
/// <item>catch-up: the new silo is stopped (SIGTERM), N/200 objects are removed (one DELETE each) and N/200 added on the
/// master, and the silo is started again on its data folder; seconds from launch until the digests are equal.</item>
/// </list>
/// The silo's API has no link byte counters, so wire bytes come from the other modes.
/// </summary>
public static class SiloPipeline
{
    /// <summary>Builds src/Dt.Silo in Release (quick when up to date) and returns its dll, or throws with the build's complaint.</summary>
    public static async Task<string> EnsureBuiltAsync()
    {
        string? root = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null && root is null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DtOrleans.sln"))) root = dir.FullName;
        if (root is null) throw new InvalidOperationException("DtOrleans.sln not found above the bench; cannot find src/Dt.Silo");
        var psi = new ProcessStartInfo { FileName = DotnetHost(), RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = root };
        foreach (var a in new[] { "build", "-c", "Release", "-nologo", "-v", "q", Path.Combine(root, "src", "Dt.Silo", "Dt.Silo.csproj") }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            var lines = (await output + await errors).Split('\n').Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).Take(3);
            throw new InvalidOperationException("Dt.Silo does not build right now: " + string.Join(" / ", lines).Trim());
        }
        return FindSilo() ?? throw new InvalidOperationException("Dt.Silo built but its dll was not found");
    }

    public static string? FindSilo()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "DtOrleans.sln"))) continue;
            var dll = Path.Combine(dir.FullName, "src", "Dt.Silo", "bin", "Release", "net10.0", "Dt.Silo.dll");
            return File.Exists(dll) ? dll : null;
        }
        return null;
    }

    public static async Task<Values> RunAsync(long n, bool catchUp, Action<string> progress)
    {
        string silo = await EnsureBuiltAsync();
        var v = new Values();
        var net = new BenchNet();
        string root = Path.Combine(Path.GetTempPath(), "dt-bench-silo-" + Guid.NewGuid().ToString("N")[..8]);
        int mPeer = FreePort(), mApi = FreePort(), nPeer = FreePort(), nApi = FreePort();
        string[] common = [$"--Dt:Key={net.Key}", $"--Dt:TrustedMasterKeys:0={net.MasterKey.PublicKeyBase64}", "--Dt:ListenAddress=127.0.0.1",
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning"];
        string[] masterArgs = [.. common, "--Dt:Master=true", $"--Dt:MasterKey={net.MasterKey.ExportPrivateBase64()}", $"--Dt:Port={mPeer}",
            $"--Dt:DataDir={Path.Combine(root, "m")}", "--urls", $"http://127.0.0.1:{mApi}"];
        string[] nodeArgs = [.. common, "--Dt:Master=false", $"--Dt:Peers:0=127.0.0.1:{mPeer}", $"--Dt:Port={nPeer}",
            $"--Dt:DataDir={Path.Combine(root, "n")}", "--urls", $"http://127.0.0.1:{nApi}"];
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        var master = new SiloProcess(silo, masterArgs);
        SiloProcess? node = null;
        try
        {
            await master.WaitReadyAsync(http, mApi, TimeSpan.FromSeconds(60));
            var sw = Stopwatch.StartNew();
            long payload = 0;
            const int perRequest = 30_000;
            for (long i = 0; i < n; i += perRequest)
            {
                var body = new MemoryStream();
                for (long j = i; j < Math.Min(n, i + perRequest); j++)
                {
                    var o = Payload.Object(1, j);
                    payload += o.Length;
                    body.Write(o);
                    body.WriteByte((byte)'\n');
                }
                using var content = new ByteArrayContent(body.ToArray());
                content.Headers.ContentType = new("application/x-ndjson");
                using var resp = await http.PostAsync($"http://127.0.0.1:{mApi}/v1/tables/{SyncPipeline.Table}/objects:batch", content);
                if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"silo refused a batch: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}");
            }
            v["payload"] = payload;
            v["load_s"] = sw.Elapsed.TotalSeconds;
            var (count, digest) = await SummaryAsync(http, mApi);
            if (count != n) throw new InvalidOperationException($"master silo holds {count} objects, expected {n}");
            progress($"[silo] master loaded {n:N0} objects over HTTP in {Fmt.Seconds(v["load_s"])}");

            var t0 = Stopwatch.GetTimestamp();
            node = new SiloProcess(silo, nodeArgs);
            var (s, api, link) = await WaitDigestAsync(http, nApi, count, digest, t0, SyncPipeline.Timeout(n));
            v["sync_s"] = s;
            v["sync_api_s"] = api;
            v["sync_link_s"] = link;
            progress($"[silo] initial sync {Fmt.Seconds(s)} from process start (API up at {Fmt.Seconds(api)}, link at {Fmt.Seconds(link)})");

            await Task.Delay(1000);
            foreach (var (who, p) in new[] { ("master", master), ("node", node) })
            {
                var (rss, peak) = p.Rss();
                v[$"rss_{who}"] = rss;
                v[$"rss_peak_{who}"] = peak;
                v[$"rss_{who}_ratio"] = (double)rss / payload;
                v[$"rss_peak_{who}_ratio"] = (double)peak / payload;
            }
            progress($"[silo] RSS master {Fmt.Ratio(v["rss_master_ratio"])}, node {Fmt.Ratio(v["rss_node_ratio"])} of the payload");

            if (catchUp)
            {
                await node.StopAsync();
                long k = Math.Max(1, n / 200);
                for (long i = 0; i < k; i++)
                {
                    using var resp = await http.DeleteAsync($"http://127.0.0.1:{mApi}/v1/tables/{SyncPipeline.Table}/objects/{ObjectHash.Of(Payload.Object(1, i))}");
                    if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"silo refused a removal: {(int)resp.StatusCode}");
                }
                var add = new MemoryStream();
                for (long j = n; j < n + k; j++) { add.Write(Payload.Object(1, j)); add.WriteByte((byte)'\n'); }
                using (var content = new ByteArrayContent(add.ToArray()))
                {
                    content.Headers.ContentType = new("application/x-ndjson");
                    using var resp = await http.PostAsync($"http://127.0.0.1:{mApi}/v1/tables/{SyncPipeline.Table}/objects:batch", content);
                    resp.EnsureSuccessStatusCode();
                }
                (count, digest) = await SummaryAsync(http, mApi);
                t0 = Stopwatch.GetTimestamp();
                node = new SiloProcess(silo, nodeArgs);
                (s, api, link) = await WaitDigestAsync(http, nApi, count, digest, t0, SyncPipeline.Timeout(n));
                v["catchup_s"] = s;
                v["catchup_api_s"] = api;
                v["catchup_link_s"] = link;
                progress($"[silo] catch-up {Fmt.Seconds(s)} from process start (API up at {Fmt.Seconds(api)}, link at {Fmt.Seconds(link)})");
            }
        }
        finally
        {
            if (node is not null) await node.StopAsync();
            await master.StopAsync();
            try { if (Directory.Exists(root)) Directory.Delete(root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return v;
    }

    private static async Task<(long Count, string Digest)> SummaryAsync(HttpClient http, int api)
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{api}/v1/tables/{SyncPipeline.Table}"));
        return (doc.RootElement.GetProperty("count").GetInt64(), doc.RootElement.GetProperty("digest").GetString()!);
    }

    /// <summary>Polls the silo every 5 ms; returns seconds since <paramref name="since"/> until the digest matched, the API answered, and a link was up.</summary>
    private static async Task<(double Converged, double Api, double Link)> WaitDigestAsync(HttpClient http, int api, long count, string digest, long since, TimeSpan timeout)
    {
        double apiUp = double.NaN, linkUp = double.NaN;
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        long held = 0;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            try
            {
                if (double.IsNaN(linkUp))
                {
                    using var h = await http.GetAsync($"http://127.0.0.1:{api}/healthz");
                    if (double.IsNaN(apiUp)) apiUp = Stopwatch.GetElapsedTime(since).TotalSeconds;
                    if (h.IsSuccessStatusCode) linkUp = Stopwatch.GetElapsedTime(since).TotalSeconds;
                }
                using var r = await http.GetAsync($"http://127.0.0.1:{api}/v1/tables/{SyncPipeline.Table}");
                if (r.IsSuccessStatusCode)
                {
                    using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
                    held = doc.RootElement.GetProperty("count").GetInt64();
                    if (held == count && doc.RootElement.GetProperty("digest").GetString() == digest)
                        return (Stopwatch.GetElapsedTime(since).TotalSeconds, apiUp, double.IsNaN(linkUp) ? Stopwatch.GetElapsedTime(since).TotalSeconds : linkUp);
                }
            }
            catch (HttpRequestException) { }
            await Task.Delay(5);
        }
        throw new TimeoutException($"silo: not converged after {timeout.TotalSeconds:0} s (holds {held} of {count})");
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    internal sealed class SiloProcess
    {
        private readonly Process _p;
        private readonly StringBuilder _log = new();

        public SiloProcess(string dll, string[] args)
        {
            var psi = new ProcessStartInfo { FileName = DotnetHost(), RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            foreach (var a in args) psi.ArgumentList.Add(a);
            _p = Process.Start(psi) ?? throw new InvalidOperationException("could not start Dt.Silo");
            _p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
            _p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
            _p.BeginOutputReadLine();
            _p.BeginErrorReadLine();
        }

        public int Id => _p.Id;

        /// <summary>
        /// Waits until the silo uses under a tenth of a core over two quarter-second windows in a row (its background
        /// work, such as a compaction or the JIT's tiering, is done), or until <paramref name="timeout"/>.
        /// </summary>
        public async Task WaitIdleAsync(TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            int quiet = 0;
            var last = CpuTime;
            while (quiet < 2 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
                var now = CpuTime;
                quiet = now - last < TimeSpan.FromMilliseconds(25) ? quiet + 1 : 0;
                last = now;
            }
        }

        /// <summary>CPU time the silo process has used so far (user and system, every thread).</summary>
        public TimeSpan CpuTime
        {
            get
            {
                _p.Refresh();
                return _p.TotalProcessorTime;
            }
        }

        public async Task WaitReadyAsync(HttpClient http, int api, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                if (_p.HasExited) throw new InvalidOperationException($"Dt.Silo exited with {_p.ExitCode}: {Log()}");
                try
                {
                    using var r = await http.GetAsync($"http://127.0.0.1:{api}/healthz");
                    if (r.IsSuccessStatusCode) return;
                }
                catch (HttpRequestException) { }
                await Task.Delay(20);
            }
            throw new TimeoutException($"Dt.Silo not ready within {timeout.TotalSeconds:0} s: {Log()}");
        }

        public (long Rss, long Peak) Rss()
        {
            long rss = 0, peak = 0;
            foreach (var l in File.ReadLines($"/proc/{_p.Id}/status"))
            {
                if (l.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(l);
                else if (l.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kb(l);
            }
            return (rss, peak);
            static long Kb(string l) => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }

        /// <summary>SIGTERM (the silo stops its API, then its node, flushing its tables), then waits for the exit.</summary>
        public async Task StopAsync()
        {
            if (_p.HasExited) return;
            try
            {
                using var kill = Process.Start("kill", ["-TERM", _p.Id.ToString(CultureInfo.InvariantCulture)]);
                kill?.WaitForExit();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await _p.WaitForExitAsync(cts.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                if (!_p.HasExited) _p.Kill();
            }
        }

        private string Log()
        {
            lock (_log) return _log.Length > 2000 ? _log.ToString()[^2000..] : _log.ToString();
        }
    }

    private static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
    }
}
