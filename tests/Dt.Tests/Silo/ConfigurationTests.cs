using System.Net;
using System.Net.Sockets;
using Xunit;

namespace Dt.Tests.Silo;

/// <summary>Start-up of the real silo: bad settings stop it with one message naming them; keys are made once.</summary>
public sealed class ConfigurationTests
{
    private static Task<ChildProcess> RunToExitAsync(string dataDir, params string[] args) => SiloProcess.RunToExitAsync(dataDir, fastProfile: false, args);

    [Fact]
    public async Task Invalid_configuration_exits_non_zero_with_one_message_naming_each_bad_setting()
    {
        using var dirs = new TempDirs();
        var cases = new (string[] Args, string[] Named)[]
        {
            (["--urls", "http://127.0.0.1:0", "--Dt:Port=70000", "--Dt:Prot=1", "--Dt:PingInterval=soon"], ["Dt:Port 70000", "Dt:Prot", "Dt:PingInterval 'soon'"]),
            (["--urls", "http://0.0.0.0:0"], ["urls", "Silo:ApiToken"]),
            (["--urls", "http://127.0.0.1:0", "--Dt:Master=false"], ["Dt:Key", "Dt:TrustedMasterKeys"]),
            (["--urls", "http://127.0.0.1:0", "--Silo:MaxBodyBytes=12", "--Silo:ApiToken=short"], ["Silo:MaxBodyBytes", "Silo:ApiToken"]),
            (["--urls", "http://127.0.0.1:0", "--Dt:Port"], ["--Dt:Port needs a value"]),
        };
        var runs = cases.Select((c, i) => RunToExitAsync(dirs.New($"case{i}"), c.Args)).ToList();
        for (int i = 0; i < cases.Length; i++)
        {
            await using var p = await runs[i];
            string detail = $"case {i}: {string.Join(' ', cases[i].Args)}\n{p.Describe()}";
            Assert.True(p.ExitCode == 2, detail);
            Assert.StartsWith("dt-silo: invalid configuration", p.Stderr);
            foreach (var name in cases[i].Named) Assert.True(p.Stderr.Contains(name, StringComparison.Ordinal), $"'{name}' not named; {detail}");
            Assert.DoesNotContain("   at ", p.Stderr + p.Stdout); // no stack trace
            Assert.False(File.Exists(Path.Combine(dirs.New($"case{i}"), "network.key")), "a refused start leaves no key behind");
        }
    }

    [Fact]
    public async Task A_peer_port_in_use_stops_the_silo_with_one_line()
    {
        using var dirs = new TempDirs();
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using var p = await RunToExitAsync(dirs.New("busy"), "--urls", "http://127.0.0.1:0", "--Dt:ListenAddress=127.0.0.1", $"--Dt:Port={port}");
        Assert.Equal(1, p.ExitCode);
        Assert.StartsWith("dt-silo: cannot start: cannot listen for peers", p.Stderr);
        Assert.Contains("Dt:Port", p.Stderr);
        Assert.DoesNotContain("   at ", p.Stderr + p.Stdout);
    }

    [Fact]
    public async Task The_first_start_generates_and_prints_the_keys_once_and_a_restart_reuses_them()
    {
        using var dirs = new TempDirs();
        string dir = dirs.New("first");
        await using var first = await SiloProcess.StartAsync("first", dir);
        string key = File.ReadAllText(Path.Combine(dir, "network.key")).Trim();
        Assert.Contains($"--Dt:Key={key}", first.Process.Stdout);
        if (OperatingSystem.IsWindows()) Assert.Skip("the restart below stops the silo with SIGTERM, which Windows has not");

        first.Process.Terminate();
        Assert.Equal(0, await first.Process.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        await first.RestartAsync();
        Assert.DoesNotContain("--Dt:Key=", first.Process.Stdout);
        Assert.Contains("Key read from " + Path.Combine(dir, "network.key"), first.Process.Stdout);
        Assert.Equal(key, File.ReadAllText(Path.Combine(dir, "network.key")).Trim());
    }
}
