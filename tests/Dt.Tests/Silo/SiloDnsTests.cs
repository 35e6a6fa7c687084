using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Dt.Client;
using Dt.Tests.Engine;
using Xunit;

namespace Dt.Tests.Silo;

/// <summary>The silo's DNS wiring without a DNS server running: off by default (404 from the routes and `dt dns`),
/// bad Dns settings reported with the other start-up errors, a taken DNS port as one line naming the settings.</summary>
public sealed class SiloDnsTests
{
    private const string NotEnabled = "DNS is not enabled on this node (Dns:Enabled)";

    [Fact]
    public async Task Without_Dns_Enabled_the_dns_routes_and_dt_dns_answer_not_found()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TestCluster();
        await using var silo = await InProcessSilo.StartAsync(await cluster.Start(master: true));
        using var http = new HttpClient { BaseAddress = silo.Url };
        foreach (var (method, path) in new[]
                 {
                     (HttpMethod.Get, "/v1/dns/zones"), (HttpMethod.Get, "/v1/dns/zones/example.test"), (HttpMethod.Put, "/v1/dns/zones/example.test"),
                     (HttpMethod.Post, "/v1/dns/zones/example.test/records"), (HttpMethod.Delete, "/v1/dns/zones/example.test/records?record=www%20A"),
                     (HttpMethod.Delete, "/v1/dns/zones/example.test"), (HttpMethod.Get, "/v1/dns/lookup?name=example.test"),
                 })
        {
            using var response = await http.SendAsync(new HttpRequestMessage(method, path) { Content = method == HttpMethod.Get ? null : new StringContent("www A") }, ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            var problem = JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(ct), DtJsonContext.Default.DtProblem)!;
            Assert.Equal((DtApiErrors.NotFound, NotEnabled), (problem.Code, problem.Detail));
        }

        var cli = await Cli.RunAsync(silo.Url, null, "dns", "zones");
        Assert.Equal(1, cli.ExitCode);
        Assert.Equal($"dt: {NotEnabled}", cli.Stderr.Trim());
    }

    [Fact]
    public async Task Bad_Dns_settings_and_a_taken_DNS_port_stop_the_silo_with_one_message()
    {
        using var dirs = new TempDirs();
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)taken.LocalEndPoint!).Port;

        var badSettings = RunToExitAsync(dirs.New("bad"), "--Dns:Enabled=true", "--Dns:Port=70000", "--Dns:Prot=1",
            "--Dns:KeeperInterval=soon", "--Dns:TsigKeys:0:Name=k", "--Dns:TsigKeys:0:Secret=short", "--Dt:Prot=1");
        var busyPort = RunToExitAsync(dirs.New("busy"), "--Dns:Enabled=true", "--Dns:ListenAddress=127.0.0.1", $"--Dns:Port={port}");

        await using (var p = await badSettings)
        {
            Assert.True(p.ExitCode == 2, p.Describe());
            Assert.StartsWith("dt-silo: invalid configuration", p.Stderr);
            foreach (var named in new[] { "Dns:Port 70000", "Dns:Prot is not a setting", "Dns:KeeperInterval 'soon'", "Dns:TsigKeys:0:Secret", "Dt:Prot" })
                Assert.True(p.Stderr.Contains(named, StringComparison.Ordinal), $"'{named}' not named\n{p.Describe()}");
            Assert.DoesNotContain("   at ", p.Stderr + p.Stdout);
        }
        await using (var p = await busyPort)
        {
            Assert.True(p.ExitCode == 1, p.Describe());
            Assert.Equal($"dt-silo: cannot start: cannot serve DNS on 127.0.0.1 port {port} (Dns:ListenAddress, Dns:Port): Address already in use", p.Stderr.Trim());
            Assert.DoesNotContain("   at ", p.Stdout);
            Assert.False(File.Exists(Path.Combine(dirs.New("busy"), "network.key")), "a refused start leaves no key behind");
        }
    }

    private static Task<ChildProcess> RunToExitAsync(string dataDir, params string[] args) => SiloProcess.RunToExitAsync(dataDir, fastProfile: true, args);
}
