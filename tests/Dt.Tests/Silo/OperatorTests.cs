using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dt.Client;
using Dt.Security;
using Xunit;

namespace Dt.Tests.Silo;

/// <summary>What an operator sees when something is wrong: trust failures that cannot be missed, arguments that are
/// no setting, starts that fail without leaving anything behind, HTTP answers that say what was wrong.</summary>
public sealed partial class OperatorTests
{
    [Fact]
    public async Task A_node_that_does_not_trust_the_master_says_so_with_the_signers_fingerprint_in_its_log_health_and_status()
    {
        using var dirs = new TempDirs();
        await using var master = await SiloProcess.StartAsync("master", dirs.New("master"));
        string fingerprint = Fingerprint().Match(master.Process.Stdout).Groups[1].Value;
        Assert.Matches("^[0-9a-f]{32}$", fingerprint);
        // The join command, but trusting another master's key instead of this one's.
        string[] join = [.. JoinCommand.From(master.Process).Where(a => !a.StartsWith("--Dt:TrustedMasterKeys:", StringComparison.Ordinal)),
            $"--Dt:TrustedMasterKeys:0={MasterSigningKey.Generate().PublicKeyBase64}"];
        await using var node = await SiloProcess.StartAsync("node", dirs.New("node"), join);
        await node.WaitHealthyAsync();

        using var writer = master.Client();
        for (int i = 0; i < 5; i++)
            await writer.GetTable("trust").AddObjects([.. Enumerable.Range(i * 100, 100).Select(k => JsonSerializer.SerializeToElement(new { k }))]);

        using var reader = node.Client();
        HealthReport? health = null;
        await Eventually.Until(async () => (health = await reader.GetHealthAsync()).Status == "degraded", "the node reports itself degraded", polling: Polling.Node);
        Assert.Contains($"untrusted master {fingerprint}", health!.Detail);
        Assert.Contains("Dt:TrustedMasterKeys", health.Detail);
        Assert.Equal(0, (await reader.GetTable("trust").GetSummary()).Count);

        var info = await reader.GetNode().GetInfo();
        Assert.Contains(info.Warnings ?? [], w => w.Contains(fingerprint) && w.Contains("table 'trust'"));
        string status = await Cli.OkAsync(node.Api, null, "status");
        Assert.Contains($"warning   degraded: dropping changes from untrusted master {fingerprint}", status);

        // The log names the table, the signer and the setting, once for this signer within the minute, not per batch.
        var lines = node.Process.StdoutLines.Where(l => l.Contains("Dropping changes to table 'trust'")).ToList();
        var detailLines = node.Process.StdoutLines.Where(l => l.Contains($"signed by master {fingerprint}")).ToList();
        Assert.Single(lines);
        Assert.Single(detailLines);
        Assert.Contains("Dt:TrustedMasterKeys", detailLines[0]);
    }

    [Theory]
    [InlineData("--Dt.Port=1", "sections and names are separated by ':'")]
    [InlineData("-Dt:Port=1", "two dashes")]
    [InlineData("bogus", "'bogus' is not a setting")]
    [InlineData("--Orleans:ClusterId=x", "Cluster section")]
    [InlineData("--Dtt:Port=1", "'Dtt:Port' is not a setting")]
    public async Task An_argument_that_is_no_setting_stops_the_start_and_writes_nothing(string arg, string said)
    {
        using var dirs = new TempDirs();
        string dir = dirs.New("strict");
        await using var p = await SiloProcess.RunToExitAsync(dir, fastProfile: true, arg);
        Assert.True(p.ExitCode == 2, p.Describe());
        Assert.StartsWith("dt-silo: invalid configuration", p.Stderr);
        Assert.Contains(said, p.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public async Task A_start_that_fails_leaves_the_data_directory_as_it_was_and_prints_no_key()
    {
        using var dirs = new TempDirs();
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;

        // A new data directory and a peer port in use: the directory is not left behind.
        string fresh = Path.Combine(dirs.New("parent"), "fresh");
        await using (var p = await SiloProcess.RunToExitAsync(fresh, fastProfile: true, "--Dt:ListenAddress=127.0.0.1", $"--Dt:Port={port}"))
        {
            Assert.True(p.ExitCode == 1, p.Describe());
            Assert.False(Directory.Exists(fresh), "a failed first start leaves no data directory behind");
            Assert.DoesNotContain("public key", p.Stdout);
        }

        // A data directory of an earlier run and the HTTP port in use: its files are as they were.
        string used = dirs.New("used");
        await using (var first = await SiloProcess.StartAsync("first", used))
        {
            first.Process.Terminate();
            await first.Process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        var before = Snapshot(used);
        await using (var p = await SiloProcess.RunToExitAsync(used, fastProfile: true, "--urls", $"http://127.0.0.1:{port}"))
        {
            Assert.True(p.ExitCode == 1, p.Describe());
            Assert.Contains("(urls)", p.Stderr);
            Assert.DoesNotContain("public key", p.Stdout);
        }
        Assert.Equal(before, Snapshot(used));
    }

    [Fact]
    public async Task Wrong_methods_get_405_with_Allow_and_bad_table_names_a_problem_naming_the_rule()
    {
        using var dirs = new TempDirs();
        await using var silo = await SiloProcess.StartAsync("edges", dirs.New("edges"));
        using var http = new HttpClient { BaseAddress = silo.Api };
        var ct = TestContext.Current.CancellationToken;

        using (var put = await http.PutAsync("/v1/tables/x/objects", new StringContent("{}"), ct))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
            Assert.Contains("POST", put.Content.Headers.Allow.Concat(put.Headers.Select(h => h.Key == "Allow" ? string.Join(",", h.Value) : "")));
            var problem = await Problem(put);
            Assert.Equal(DtApiErrors.MethodNotAllowed, problem.Code);
        }
        using (var missing = await http.GetAsync("/v1/nothing-here", ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Equal(DtApiErrors.NotFound, (await Problem(missing)).Code);
        }
        foreach (var name in new[] { "..%2F..%2Ftmp%2Fevil", "%2Fleading", "trailing%2F", "a%2F%2Fb", "sp%20ace" })
        {
            using var r = await http.GetAsync($"/v1/tables/{name}", ct);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            var problem = await Problem(r);
            Assert.Equal(DtErrorCodes.InvalidArgument, problem.Code);
            Assert.Contains("'/' separates non-empty parts", problem.Detail);
        }
        using (var ok = await http.GetAsync("/v1/tables/zones%2Fexample.test", ct))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        // The same rule holds in the client, before any request.
        using var client = silo.Client();
        Assert.Equal(DtErrorCodes.InvalidArgument, Assert.Throws<DtException>(() => client.GetTable("../x")).Code);
    }

    [Fact]
    public async Task Dt_refuses_to_act_on_a_node_of_another_network()
    {
        using var dirs = new TempDirs();
        await using var silo = await SiloProcess.StartAsync("net", dirs.New("net"));
        var refused = await Cli.RunAsync(silo.Api, null, "--expect-network", "prod", "add", """{"x":1}""");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("is in network 'dt', not 'prod'", refused.Stderr);
        using var client = silo.Client();
        Assert.Equal(0, (await client.GetTable("default").GetSummary()).Count);
        string status = await Cli.OkAsync(silo.Api, null, "--expect-network", "dt", "status");
        Assert.Contains("network   dt", status);
    }

    private static async Task<DtProblem> Problem(HttpResponseMessage r)
    {
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        return (await r.Content.ReadFromJsonAsync(DtJsonContext.Default.DtProblem))!;
    }

    private static SortedDictionary<string, string> Snapshot(string dir) =>
        new(Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(dir, f), f => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))));

    [GeneratedRegex("fingerprint ([0-9a-f]{32})")]
    private static partial Regex Fingerprint();
}
