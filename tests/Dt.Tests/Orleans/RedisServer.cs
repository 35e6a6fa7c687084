using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit;

namespace Dt.Tests.Orleans;

/// <summary>A redis-server of the test's own on a free loopback port (nothing saved to disk), stopped with the test.
/// Tests that need one skip with the reason where Debian's redis-server is not installed.</summary>
internal sealed class RedisServer : IDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port}";

    public static string? Binary { get; } =
        new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);

    public static async Task<RedisServer> StartAsync()
    {
        if (Binary is null) Assert.Skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)");
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }
        var info = new ProcessStartInfo(Binary!)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes" })
            info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) => { if (e.Data?.Contains("Ready to accept connections") == true) ready.TrySetResult(); };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RedisServer(process, port);
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException)
        {
            server.Dispose();
            throw new TimeoutException($"redis-server on port {port} did not start within 20 s");
        }
        return server;
    }

    public void Dispose()
    {
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
