using System.Security.Cryptography;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Dt.Dns;
using Dt.Dns.Lookup;
using Dt.Dns.Wire;
using Dt.Hosting;
using Microsoft.Extensions.Logging;

// DNS benchmark: a Dt node (a master in this process) answering a zone of --records hosts from its replicated table,
// side by side with BIND (named) and Knot (knotd) serving the same zone file, all loaded by dnsperf with the same
// query file. Per server and run (medians of --repeat rounds, the servers interleaved in each round so a load that
// comes and goes on the machine hits them alike):
//   UDP -c 4 and UDP -c 8: queries/s at saturation (500 outstanding per thread, one dnsperf thread);
//   UDP at --rate q/s: loss (must be 0) and latency p50/p99 from dnsperf -v;
//   TCP -c 8: queries/s at saturation.
// Then Dt ÷ BIND and Dt ÷ Knot. A server that is not installed is skipped with a message. With --silo DLL (run.sh
// --silo builds and passes it) the real Dt.Silo process is measured too, as "Dt.Silo".
// run.sh starts this process under `taskset -c 1` and passes --pinned: the servers (Dt's threads, and named and knotd,
// which inherit the affinity) run on CPU 1 and dnsperf under `taskset -c 0`. Each server gets one worker per CPU it
// may use: Dt sizes by Environment.ProcessorCount (1 when pinned); named keeps its default (one thread per CPU it
// counts; --bind-threads N passes -n N); knotd gets udp-workers/tcp-workers 1 (--knot-workers N), its best when pinned.
var a = Args.Parse(args);
if (FindTool("dnsperf") is not { } dnsperf)
{
    Console.Error.WriteLine("dnsperf is not installed (apt-get install dnsperf)");
    return 2;
}
bool pin = a.Pinned && FindTool("taskset") is not null;
string work = Directory.CreateTempSubdirectory("dt-dns-bench-").FullName;
string zoneFile = Path.Combine(work, "bench.test.zone");
string queries = Path.Combine(work, "queries.txt");
File.WriteAllText(zoneFile, ZoneText(a.Records));
File.WriteAllText(queries, QueryText(a.Records));
Console.WriteLine($"machine: {Environment.ProcessorCount} CPU(s) available to the servers ({(pin ? "servers pinned to CPU 1, dnsperf to CPU 0" : "not pinned")}), load average {LoadAverage()}");

var servers = new List<Server>();
var failures = new FailureCounter();
try
{
    if (a.Only is null || a.Only.Contains("dt")) servers.Add(await StartDt());
    if (a.Silo is { } siloDll) servers.Add(await StartSilo(siloDll));
    if (a.Only is null || a.Only.Contains("bind"))
    {
        if (FindTool("named") is { } named) servers.Add(await StartBind(named));
        else Console.WriteLine("BIND skipped: named is not installed (apt-get install bind9)");
    }
    if (a.Only is null || a.Only.Contains("knot"))
    {
        if (FindTool("knotd") is { } knotd) servers.Add(await StartKnot(knotd));
        else Console.WriteLine("Knot skipped: knotd is not installed (apt-get install knot)");
    }

    var runs = new Run[]
    {
        new("UDP -c 4", ["-c", "4", "-T", "1", "-q", "500", "-l", a.Seconds], false),
        new("UDP -c 8", ["-c", "8", "-T", "1", "-q", "500", "-l", a.Seconds], false),
        new($"UDP at {a.Rate}/s", ["-Q", a.Rate, "-l", a.Seconds, "-v"], true),
        new("TCP -c 8", ["-m", "tcp", "-c", "8", "-T", "1", "-q", "200", "-l", a.Seconds], false),
    };
    var results = new Dictionary<(string Server, string Run), List<Perf>>();
    failures.Reset(); // what the import logged (a subscriber re-listing a big change) is not a serving failure
    for (int round = 1; round <= a.Repeat; round++)
        foreach (var run in runs)
            foreach (var s in servers)
            {
                var p = await RunPerf(s, run);
                Console.WriteLine($"round {round}, {s.Name}, {run.Name}: {p.Qps:0} q/s, {p.Lost} lost of {p.Sent}{(run.Latency ? $", p50 {p.P50Ms:0.000} ms, p99 {p.P99Ms:0.000} ms" : "")}");
                (results.TryGetValue((s.Name, run.Name), out var l) ? l : results[(s.Name, run.Name)] = []).Add(p);
            }

    Console.WriteLine();
    Console.WriteLine($"medians of {a.Repeat} round(s), {a.Records + 5} records, {a.Seconds} s per run, load average now {LoadAverage()}");
    Console.WriteLine("| server | " + string.Join(" | ", runs.Select(r => r.Latency ? $"{r.Name}: lost, p50, p99" : $"{r.Name} q/s")) + " |");
    Console.WriteLine("| --- |" + string.Concat(runs.Select(_ => " ---: |")));
    foreach (var s in servers)
        Console.WriteLine($"| {s.Name} | " + string.Join(" | ", runs.Select(r =>
        {
            var l = results[(s.Name, r.Name)];
            return r.Latency
                ? $"{Median(l, p => p.Lost):0}, {Median(l, p => p.P50Ms):0.000} ms, {Median(l, p => p.P99Ms):0.000} ms"
                : $"{Median(l, p => p.Qps):0} ({l.Min(p => p.Qps):0}–{l.Max(p => p.Qps):0})";
        })) + " |");
    foreach (var dt in servers.Where(s => s.Name.StartsWith("Dt", StringComparison.Ordinal)))
        foreach (var other in servers.Where(s => !s.Name.StartsWith("Dt", StringComparison.Ordinal)))
            Console.WriteLine($"{dt.Name} ÷ {other.Name}: " + string.Join(", ", runs.Select(r =>
            {
                double d = Median(results[(dt.Name, r.Name)], p => r.Latency ? p.P50Ms : p.Qps);
                double o = Median(results[(other.Name, r.Name)], p => r.Latency ? p.P50Ms : p.Qps);
                return r.Latency ? $"p50 latency at {a.Rate}/s {d / o:0.00}×" : $"{r.Name} {d / o:0.00}×";
            })));
    Console.WriteLine($"warnings and errors logged by Dt's DNS service: {failures.Count}{(failures.First is { } f ? "; first: " + f : "")}");
    bool lost = servers.Any(s => results[(s.Name, runs[2].Name)].Any(p => p.Lost > 0));
    return lost || failures.Count > 0 ? 1 : 0;
}
finally
{
    foreach (var s in servers) await s.Stop();
    Directory.Delete(work, recursive: true);
}

async Task<Server> StartDt()
{
    var node = await DtNode.StartAsync(DtOptions.ForTests(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), master: true, DtKeys.GenerateMasterKey().PrivateKey));
    var options = new DnsOptions { ListenAddress = a.Listen, Port = 0, UdpReceivers = a.Receivers };
    var dns = new DnsService(node, options, LoggerFactory.Create(b => b.AddProvider(failures)));
    await dns.StartAsync();
    var sw = Stopwatch.StartNew();
    await dns.Editor.ImportZoneAsync("bench.test", File.ReadAllText(zoneFile));
    Console.WriteLine($"Dt: zone imported and served in {sw.ElapsedMilliseconds} ms, port {dns.Port}, {(a.Receivers == 0 ? "automatic" : a.Receivers.ToString(CultureInfo.InvariantCulture))} UDP receivers, listening on {a.Listen}");
    return new Server("Dt", dns.Port, async () =>
    {
        await dns.DisposeAsync();
        await node.DisposeAsync();
    });
}

// The real Dt.Silo process (Release build, inheriting this process's CPU affinity) with its DNS service on, the zone
// imported through its HTTP API as `dt dns import` does (PUT /v1/dns/zones/bench.test). Its log is not counted.
async Task<Server> StartSilo(string dll)
{
    int port = FreePort();
    string dir = Directory.CreateDirectory(Path.Combine(work, "silo")).FullName;
    var p = StartDaemon("dotnet", dll, $"--Dt:DataDir={dir}", "--Dt:Port=0", "--Dt:ListenAddress=127.0.0.1", "--urls", "http://127.0.0.1:0",
        "--Dns:Enabled=true", "--Dns:ListenAddress=127.0.0.1", $"--Dns:Port={port}", $"--Dns:UdpReceivers={a.Receivers}",
        "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Dt.Silo=Information");
    var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
    p.OutputDataReceived += (_, e) =>
    {
        if (e.Data is { } line && Regex.Match(line, @"HTTP API on (http://[^\s,]+)") is { Success: true } m) ready.TrySetResult(m.Groups[1].Value);
    };
    var api = await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
    using var http = new HttpClient { BaseAddress = new Uri(api) };
    var sw = Stopwatch.StartNew();
    var put = await http.PutAsync("/v1/dns/zones/bench.test", new StringContent(File.ReadAllText(zoneFile), Encoding.UTF8, "text/plain"));
    if (!put.IsSuccessStatusCode) throw new InvalidOperationException($"importing into Dt.Silo failed: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
    await WaitAnswering("Dt.Silo", port, p);
    Console.WriteLine($"Dt.Silo: zone imported through {api} in {sw.ElapsedMilliseconds} ms, DNS port {port}");
    return new Server("Dt.Silo", port, () => StopDaemon(p));
}

async Task<Server> StartBind(string named)
{
    int port = FreePort();
    string dir = Directory.CreateDirectory(Path.Combine(work, "bind")).FullName;
    File.WriteAllText(Path.Combine(dir, "named.conf"), $$"""
        options {
            directory "{{dir}}";
            pid-file "{{dir}}/named.pid";
            listen-on port {{port}} { 127.0.0.1; };
            listen-on-v6 { none; };
            recursion no;
            notify no;
        };
        zone "bench.test" { type primary; file "{{zoneFile}}"; };
        """);
    string[] threads = a.BindThreads > 0 ? ["-n", a.BindThreads.ToString(CultureInfo.InvariantCulture)] : [];
    var p = StartDaemon(named, ["-g", .. threads, "-c", Path.Combine(dir, "named.conf")]);
    await WaitAnswering("BIND", port, p);
    Console.WriteLine($"BIND: {Version(named, "-v")}, port {port}, {(a.BindThreads > 0 ? $"{a.BindThreads} worker thread(s) (-n)" : "its default worker threads (one per CPU it counts)")}");
    return new Server("BIND", port, () => StopDaemon(p));
}

async Task<Server> StartKnot(string knotd)
{
    int port = FreePort();
    string dir = Directory.CreateDirectory(Path.Combine(work, "knot")).FullName;
    Directory.CreateDirectory(Path.Combine(dir, "db"));
    File.WriteAllText(Path.Combine(dir, "knot.conf"), $"""
        server:
            rundir: {dir}
            listen: 127.0.0.1@{port}
            udp-workers: {a.KnotWorkers}
            tcp-workers: {a.KnotWorkers}
            background-workers: 1
        database:
            storage: {dir}/db
        log:
          - target: stderr
            any: warning
        zone:
          - domain: bench.test
            storage: {Path.GetDirectoryName(zoneFile)}
            file: {Path.GetFileName(zoneFile)}
            zonefile-sync: -1
            journal-content: none
        """);
    var p = StartDaemon(knotd, "-c", Path.Combine(dir, "knot.conf"));
    await WaitAnswering("Knot", port, p);
    Console.WriteLine($"Knot: {Version(knotd, "--version")}, port {port}, udp-workers and tcp-workers {a.KnotWorkers}");
    return new Server("Knot", port, () => StopDaemon(p));
}

async Task<Perf> RunPerf(Server s, Run run)
{
    string output = Path.Combine(work, "dnsperf.out");
    var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true };
    var command = new StringBuilder(pin ? "exec taskset -c 0 " : "exec ");
    foreach (var x in new[] { dnsperf, "-s", "127.0.0.1", "-p", s.Port.ToString(CultureInfo.InvariantCulture), "-d", queries, "-t", "2" }.Concat(run.Extra))
        command.Append('\'').Append(x).Append("' ");
    command.Append("> '").Append(output).Append('\'');
    psi.ArgumentList.Add("-c");
    psi.ArgumentList.Add(command.ToString());
    using var p = Process.Start(psi)!;
    var err = await p.StandardError.ReadToEndAsync();
    await p.WaitForExitAsync();
    var perf = Perf.Parse(output, run.Latency);
    if (err.Trim().Length > 0 && perf.Sent == 0) Console.WriteLine($"dnsperf: {err.Trim()}");
    return perf;
}

static Process StartDaemon(string file, params string[] args)
{
    var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    foreach (var x in args) psi.ArgumentList.Add(x);
    var p = Process.Start(psi)!;
    p.OutputDataReceived += (_, _) => { };
    p.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line && !line.Contains("built with") && Regex.IsMatch(line, "error|fail|critical|warning", RegexOptions.IgnoreCase)) Console.Error.WriteLine($"{Path.GetFileName(file)}: {line}"); };
    p.BeginOutputReadLine();
    p.BeginErrorReadLine();
    return p;
}

static async Task StopDaemon(Process p)
{
    if (!p.HasExited)
    {
        p.Kill();
        await p.WaitForExitAsync();
    }
    p.Dispose();
}

static async Task WaitAnswering(string name, int port, Process p)
{
    var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
    while (true)
    {
        if (p.HasExited) throw new InvalidOperationException($"{name} exited with code {p.ExitCode} before answering");
        try
        {
            var r = await DnsStubClient.QueryAsync(new IPEndPoint(IPAddress.Loopback, port), DnsName.Parse("www.bench.test"), RrType.A, TimeSpan.FromMilliseconds(500), false);
            if (r.Rcode == DnsRcode.NoError && r.Answers.Count > 0) return;
        }
        catch (TimeoutException)
        {
        }
        if (DateTime.UtcNow > deadline) throw new TimeoutException($"{name} did not answer for bench.test within 30 s");
        await Task.Delay(50);
    }
}

static string Version(string file, string flag)
{
    using var p = Process.Start(new ProcessStartInfo(file, flag) { RedirectStandardOutput = true })!;
    string v = p.StandardOutput.ReadToEnd().Trim();
    p.WaitForExit();
    return v.Split('\n')[0];
}

static int FreePort()
{
    using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
    for (int i = 0; i < 200; i++)
    {
        int port = Random.Shared.Next(21000, 32000); // below the ephemeral range, so no port-0 socket takes it meanwhile
        try
        {
            using var u = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            u.Bind(new IPEndPoint(IPAddress.Loopback, port));
            using var t = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            t.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return port;
        }
        catch (System.Net.Sockets.SocketException)
        {
        }
    }
    throw new InvalidOperationException("no free port");
}

static string ZoneText(int records)
{
    var zone = new StringBuilder("""
        $ORIGIN bench.test.
        $TTL 300
        @ IN SOA ns1 hostmaster 1 3600 600 1209600 60
          IN NS ns1
          IN MX 10 mail
          IN TXT "v=spf1 -all"
        ns1 IN A 192.0.2.53
        mail IN A 192.0.2.25
        www IN A 192.0.2.1
            IN AAAA 2001:db8::1

        """);
    for (int i = 0; i < records; i++) zone.Append(CultureInfo.InvariantCulture, $"h{i} IN A 10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}\n");
    return zone.ToString();
}

static string QueryText(int records)
{
    var rng = new Random(7);
    var q = new StringBuilder();
    for (int i = 0; i < 10_000; i++)
    {
        int k = rng.Next(100);
        q.Append(k switch
        {
            < 70 => $"h{rng.Next(records)}.bench.test A\n",
            < 80 => "bench.test MX\n",
            < 85 => "www.bench.test AAAA\n",
            < 90 => "bench.test TXT\n",
            _ => $"nx{rng.Next(1000)}.bench.test A\n",
        });
    }
    return q.ToString();
}

static string LoadAverage()
{
    try
    {
        return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
    }
    catch (IOException)
    {
        return "?";
    }
}

static double Median(List<Perf> l, Func<Perf, double> f)
{
    var v = l.Select(f).Order().ToList();
    return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
}

static string? FindTool(string name) =>
    (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/bin", "/usr/sbin"])
        .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

sealed record Server(string Name, int Port, Func<Task> Stop);

sealed record Run(string Name, string[] Extra, bool Latency);

sealed record Perf(long Sent, long Lost, double Qps, double P50Ms, double P99Ms)
{
    public static Perf Parse(string file, bool latency)
    {
        var latencies = new List<double>();
        var summary = new StringBuilder();
        foreach (var line in File.ReadLines(file))
        {
            // -v prints one line per answered query: "> NOERROR h1.bench.test A 0.000085".
            if (latency && line.StartsWith("> ", StringComparison.Ordinal))
            {
                int sp = line.LastIndexOf(' ');
                if (double.TryParse(line.AsSpan(sp + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double s)) latencies.Add(s * 1000);
            }
            else summary.Append(line).Append('\n');
        }
        string o = summary.ToString();
        long L(string pattern) => Regex.Match(o, pattern) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        double D(string pattern) => Regex.Match(o, pattern) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        latencies.Sort();
        double Pct(double q) => latencies.Count == 0 ? 0 : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        return new Perf(L(@"Queries sent:\s+(\d+)"), L(@"Queries lost:\s+(\d+)"), D(@"Queries per second:\s+([\d.]+)"), Pct(0.5), Pct(0.99));
    }
}

sealed record Args(int Records, string Seconds, string Rate, bool Pinned, int Receivers, string Listen, int Repeat, HashSet<string>? Only, int BindThreads, int KnotWorkers, string? Silo)
{
    public static Args Parse(string[] a)
    {
        string Get(string name, string def) { int i = Array.IndexOf(a, name); return i >= 0 && i + 1 < a.Length ? a[i + 1] : def; }
        string only = Get("--only", "");
        return new Args(int.Parse(Get("--records", "10000"), CultureInfo.InvariantCulture), Get("--seconds", "10"), Get("--rate", "50000"),
            a.Contains("--pinned"), int.Parse(Get("--receivers", "0"), CultureInfo.InvariantCulture), Get("--listen", "127.0.0.1"),
            int.Parse(Get("--repeat", "3"), CultureInfo.InvariantCulture),
            only.Length == 0 ? null : only.Split(',').Select(s => s.Trim().ToLowerInvariant()).ToHashSet(),
            int.Parse(Get("--bind-threads", "0"), CultureInfo.InvariantCulture), int.Parse(Get("--knot-workers", "1"), CultureInfo.InvariantCulture),
            Get("--silo", "") is { Length: > 0 } silo ? silo : null);
    }
}

/// <summary>Counts the Dt server's warnings and errors (a request that failed, a receive that failed) and keeps the first.</summary>
sealed class FailureCounter : ILoggerProvider, ILogger
{
    private int _count;
    public int Count => _count;
    public string? First { get; private set; }
    public void Reset() { _count = 0; First = null; }
    public ILogger CreateLogger(string categoryName) => this;
    public void Dispose() { }
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel < LogLevel.Warning) return;
        if (Interlocked.Increment(ref _count) == 1) First = formatter(state, exception);
    }
}
