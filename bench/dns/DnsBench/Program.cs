using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Dt.Dns;
using Dt.Hosting;
using Dt.Security;
using Microsoft.Extensions.Logging;

// DNS benchmark of one Dt node: a master node (in memory) with its DNS service answering a zone of
// --records hosts from the replicated table, loaded by dnsperf on the same machine.
//   1. saturation: as many UDP queries/s as dnsperf gets answered (--seconds, --clients, 500 outstanding);
//   2. a fixed moderate rate (--rate) that must lose no query;
//   3. TCP (8 clients).
// run.sh starts this process under `taskset -c 1` and passes --pinned: dnsperf then runs under `taskset -c 0`, so the
// server (all its threads) and the load generator do not share a core.
var args_ = Args.Parse(args);
if (FindTool("dnsperf") is not { } dnsperf)
{
    Console.Error.WriteLine("dnsperf is not installed (apt-get install dnsperf)");
    return 2;
}
bool pin = args_.Pin && FindTool("taskset") is not null;

var node = await DtNode.StartAsync(DtOptions.ForTests(NetworkKey.Generate().ToBase64(), master: true, MasterSigningKey.Generate().ExportPrivateBase64()));
var options = new DnsOptions { ListenAddress = args_.Listen, Port = 0, UdpReceivers = args_.Receivers };
var failures = new FailureCounter();
await using var dns = new DnsService(node, options, LoggerFactory.Create(b => b.AddProvider(failures)));
await dns.StartAsync();
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
for (int i = 0; i < args_.Records; i++) zone.Append(CultureInfo.InvariantCulture, $"h{i} IN A 10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}\n");
var sw = Stopwatch.StartNew();
var imported = await dns.Editor.ImportZoneAsync("bench.test", zone.ToString());
Console.WriteLine($"zone bench.test: {args_.Records + 7} records imported and served in {sw.ElapsedMilliseconds} ms (serial {imported.Serial})");

string queries = Path.Combine(Path.GetTempPath(), $"dt-dns-queries-{Environment.ProcessId}.txt");
var rng = new Random(7);
var q = new StringBuilder();
for (int i = 0; i < 10_000; i++)
{
    int k = rng.Next(100);
    q.Append(k switch
    {
        < 70 => $"h{rng.Next(args_.Records)}.bench.test A\n",
        < 80 => "bench.test MX\n",
        < 85 => "www.bench.test AAAA\n",
        < 90 => "bench.test TXT\n",
        _ => $"nx{rng.Next(1000)}.bench.test A\n",
    });
}
File.WriteAllText(queries, q.ToString());
string port = dns.Port.ToString(CultureInfo.InvariantCulture);
Console.WriteLine($"server on 127.0.0.1:{port}, {options.UdpReceivers} UDP receive loops, {(pin ? "server pinned to CPU 1, dnsperf to CPU 0" : "not pinned")}, {Environment.ProcessorCount} CPU(s) available to the server");

var results = new List<(string Name, Perf P)>();
results.Add(("UDP saturation", await RunPerf("UDP saturation", ["-c", "4", "-T", "1", "-q", "500", "-l", args_.Seconds])));
results.Add(($"UDP at {args_.Rate}/s", await RunPerf($"UDP fixed rate", ["-Q", args_.Rate, "-l", args_.Seconds])));
results.Add(("TCP saturation", await RunPerf("TCP saturation", ["-m", "tcp", "-c", "8", "-T", "1", "-q", "200", "-l", "5"])));
File.Delete(queries);

Console.WriteLine();
Console.WriteLine("| run | queries/s | sent | lost | avg latency | NOERROR | NXDOMAIN |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
foreach (var (name, p) in results)
    Console.WriteLine($"| {name} | {p.Qps:0} | {p.Sent} | {p.Lost} | {p.LatencyMs:0.000} ms | {p.NoError} | {p.NxDomain} |");
Console.WriteLine();
Console.WriteLine($"warnings and errors logged by the server: {failures.Count}");
if (failures.First is { } first) Console.WriteLine("first: " + first);
await dns.StopAsync();
await node.DisposeAsync();
return results[1].P.Lost == 0 ? 0 : 1;

async Task<Perf> RunPerf(string name, string[] extra)
{
    var psi = new ProcessStartInfo(pin ? "taskset" : dnsperf) { RedirectStandardOutput = true, RedirectStandardError = true };
    if (pin) { psi.ArgumentList.Add("-c"); psi.ArgumentList.Add("0"); psi.ArgumentList.Add(dnsperf); }
    foreach (var a in new[] { "-s", "127.0.0.1", "-p", port, "-d", queries, "-t", "2" }.Concat(extra)) psi.ArgumentList.Add(a);
    using var p = Process.Start(psi)!;
    var output = await p.StandardOutput.ReadToEndAsync();
    var err = await p.StandardError.ReadToEndAsync();
    await p.WaitForExitAsync();
    var perf = Perf.Parse(output);
    Console.WriteLine($"{name}: {perf.Qps:0} queries/s, {perf.Lost} lost of {perf.Sent}, avg {perf.LatencyMs:0.000} ms{(err.Length > 0 ? " (" + err.Trim() + ")" : "")}");
    return perf;
}

static string? FindTool(string name) =>
    (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/bin", "/usr/sbin"])
        .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

sealed record Perf(long Sent, long Lost, double Qps, double LatencyMs, long NoError, long NxDomain)
{
    public static Perf Parse(string o)
    {
        long L(string pattern) => Regex.Match(o, pattern) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        double D(string pattern) => Regex.Match(o, pattern) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        return new Perf(L(@"Queries sent:\s+(\d+)"), L(@"Queries lost:\s+(\d+)"), D(@"Queries per second:\s+([\d.]+)"),
            D(@"Average Latency \(s\):\s+([\d.]+)") * 1000, L(@"NOERROR (\d+)"), L(@"NXDOMAIN (\d+)"));
    }
}

sealed record Args(int Records, string Seconds, string Rate, bool Pin, int Receivers, string Listen)
{
    public static Args Parse(string[] a)
    {
        string Get(string name, string def) { int i = Array.IndexOf(a, name); return i >= 0 && i + 1 < a.Length ? a[i + 1] : def; }
        return new Args(int.Parse(Get("--records", "10000"), CultureInfo.InvariantCulture), Get("--seconds", "10"), Get("--rate", "20000"),
            a.Contains("--pinned"), int.Parse(Get("--receivers", "4"), CultureInfo.InvariantCulture), Get("--listen", "127.0.0.1"));
    }
}

/// <summary>Counts the server's warnings and errors (a request that failed, a receive that failed) and keeps the first.</summary>
sealed class FailureCounter : ILoggerProvider, ILogger
{
    private int _count;
    public int Count => _count;
    public string? First { get; private set; }
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
