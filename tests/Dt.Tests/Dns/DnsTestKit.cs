using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dt.Dns;
using Dt.Dns.Lookup;
using Dt.Dns.Wire;
using Dt.Hosting;
using Dt.Tests.Engine;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Dt.Tests.Dns;

/// <summary>Helpers of the DNS tests: Dt nodes with a DNS service, the sample zone, outside tools and free ports.</summary>
internal static class DnsTestKit
{
    public const string Zone = "example.test";

    /// <summary>A zone with every supported type, a delegation, a wildcard and a TXT too large for 512 bytes.</summary>
    public static readonly string SampleZone = $$"""
        $ORIGIN example.test.
        $TTL 300
        @       3600 IN SOA ns1 hostmaster ( 2024010101 ; serial
                        3600 600 1209600 60 )
                IN NS   ns1
                IN NS   ns2.example.test.
                IN MX   10 mail
                IN TXT  "v=spf1 -all"
                IN CAA  0 issue "letsencrypt.org"
        ns1     IN A    192.0.2.53
        ns2     IN A    192.0.2.54
        www     IN A    192.0.2.1
                IN AAAA 2001:db8::1
        mail    IN A    192.0.2.25
        alias   IN CNAME www
        _sip._tcp IN SRV 10 5 5060 sip
        sip     IN A    192.0.2.60
        1.2.0.192.in-addr IN PTR www.example.test.
        opaque  IN TYPE65280 \# 4 0A0B0C0D
        *.wild  IN TXT  "wildcard"
        sub     IN NS   ns.sub
        ns.sub  IN A    192.0.2.99
        big     IN TXT  {{string.Join(" ", Enumerable.Range(0, 5).Select(i => "\"" + new string((char)('a' + i), 200) + "\""))}}
        deep.empty.nonterminal IN A 192.0.2.7
        """;

    public static ILoggerFactory Loggers { get; } = LoggerFactory.Create(b => b.AddProvider(new TestOutputLoggerProvider()).SetMinimumLevel(LogLevel.Information));

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Starts a DNS service for a node (the fast test profile); disposed with the returned handle.</summary>
    public static async Task<DnsService> StartDns(DtNode node, Action<DnsOptions>? configure = null)
    {
        var options = DnsOptions.ForTests();
        configure?.Invoke(options);
        var dns = new DnsService(node, options, Loggers);
        await dns.StartAsync(Ct);
        return dns;
    }

    public static IPEndPoint Local(int port) => new(IPAddress.Loopback, port);

    public static Task<DnsMessage> Query(int port, string name, RrType type, bool tcp = false) =>
        tcp
            ? DnsStubClient.QueryTcpAsync(Local(port), DnsName.Parse(name), type, TimeSpan.FromSeconds(2), false, Ct)
            : DnsStubClient.QueryAsync(Local(port), DnsName.Parse(name), type, TimeSpan.FromSeconds(2), false, Ct);

    /// <summary>
    /// A port free on loopback for both UDP and TCP right now, for outside daemons that need one in their config.
    /// Chosen below the kernel's ephemeral range (32768-60999 here), so no socket bound to port 0 meanwhile can take it.
    /// </summary>
    public static int FreePort()
    {
        for (int i = 0; i < 200; i++)
        {
            int port = Random.Shared.Next(21000, 32000);
            try
            {
                using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }
        throw new InvalidOperationException("no free port");
    }

    /// <summary>The full path of an outside tool, or null if it is not installed.</summary>
    public static string? Tool(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"]);
        foreach (var d in dirs)
        {
            if (d.Length == 0) continue;
            var p = Path.Combine(d, name);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    public static string RequireTool(string name) => Tool(name) ?? throw SkipException(name);

    private static Exception SkipException(string name)
    {
        Assert.Skip($"{name} not installed (apt-get install bind9 bind9-dnsutils knot knot-dnsutils ldnsutils dnsperf)");
        return new InvalidOperationException();
    }

    /// <summary>Runs a tool to completion (killed after <paramref name="timeout"/>), returning exit code and output.</summary>
    public static async Task<(int Exit, string Out, string Err)> Run(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(Ct);
        var stderr = p.StandardError.ReadToEndAsync(Ct);
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(15));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await p.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"{Path.GetFileName(file)} {string.Join(' ', psi.ArgumentList)} did not finish in time");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>dig against a local port, bounded: +time=1 +tries=1.</summary>
    public static Task<(int Exit, string Out, string Err)> Dig(int port, params string[] args) =>
        Run(RequireTool("dig"), ["@127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "+time=1", "+tries=1", .. args]);

    public static Task<(int Exit, string Out, string Err)> Kdig(int port, params string[] args) =>
        Run(RequireTool("kdig"), ["@127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "+time=1", "+retry=0", .. args]);

    /// <summary>Record lines of a dig/kdig answer ("+noall +answer"), TTL dropped, blanks collapsed, sorted.</summary>
    public static List<string> AnswerLines(string output) =>
        output.Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith(';'))
            .Select(l => l.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 4)
            .Select(f => string.Join(' ', new[] { f[0].ToLowerInvariant() }.Concat(f.Skip(2))))
            .Order(StringComparer.Ordinal)
            .ToList();
}

/// <summary>An outside daemon (named, knotd) started for one test, killed and reaped in Dispose; its output kept.</summary>
internal sealed class Daemon : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    public Daemon(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    public bool Exited => _process.HasExited;

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        try
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"--- {_process.StartInfo.FileName} log ---\n{Log}");
        }
        catch (InvalidOperationException)
        {
        }
    }
}

/// <summary>A temporary directory removed in Dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("dt-dns-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
