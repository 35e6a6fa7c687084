using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dt.Client;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Tests.Engine;
using Dt.Tests.Silo;
using Xunit;
using CliRun = Dt.Tests.Silo.Cli;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// Two real Dt.Silo processes with the DNS service on (a master and a node linked to it), each answering on a free
/// loopback port. The master's resolver for world-valid lookups is its own DNS server; the node's is a separate
/// in-process network (the "liar") that serves lookup.test with a different MX.
/// </summary>
public sealed class DnsSilos : IAsyncLifetime
{
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>The zone the master silo signs.</summary>
    public const string SignedZone = "signed.test";

    /// <summary>The zone the lookup test imports on the master; the liar serves it with another MX.</summary>
    public const string LookupZone = """
        $ORIGIN lookup.test.
        $TTL 300
        @    IN SOA ns1 hostmaster 1 3600 600 1209600 60
             IN NS  ns1
             IN MX  10 mail
        ns1  IN A   192.0.2.53
        mail IN A   192.0.2.25
        www  IN A   192.0.2.1
        """;

    private readonly TempDirs _dirs = new();
    private TestCluster? _liarNetwork;
    private DnsService? _liar;

    internal SiloProcess Master { get; private set; } = null!;

    internal SiloProcess Node { get; private set; } = null!;

    public int MasterDnsPort { get; } = FreePort();

    public int NodeDnsPort { get; private set; }

    /// <summary>A directory for the tests' files (zone files), removed with the silos.</summary>
    public string Scratch(string name) => _dirs.New("scratch-" + name);

    private static string[] Dns(int port, string resolver) =>
        ["--Dns:Enabled=true", "--Dns:ListenAddress=127.0.0.1", $"--Dns:Port={port}", $"--Dns:Resolver={resolver}", "--Dns:LookupTimeout=00:00:02"];

    public async ValueTask InitializeAsync()
    {
        _liarNetwork = new TestCluster();
        _liar = await StartDns(await _liarNetwork.Start(master: true));
        await _liar.Editor.ImportZoneAsync("lookup.test", LookupZone.Replace("IN MX  10 mail", "IN MX  20 evil.attacker.test."), Ct);

        // The master signs signed.test (DNSSEC) with keys it creates in its own key directory.
        Master = await SiloProcess.StartAsync("dns-master", _dirs.New("master"),
            [$"--Silo:MaxBodyBytes={MaxBodyBytes}", .. Dns(MasterDnsPort, $"127.0.0.1:{MasterDnsPort}"),
             $"--Dns:SignedZones:0={SignedZone}", $"--Dns:KeyDirectory={_dirs.New("master-keys")}"]);
        NodeDnsPort = FreePort();
        Node = await SiloProcess.StartAsync("dns-node", _dirs.New("node"),
            [.. JoinCommand.From(Master.Process), .. Dns(NodeDnsPort, $"127.0.0.1:{_liar.Port}")]);
        await Node.WaitHealthyAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Node is not null) await Node.DisposeAsync();
        if (Master is not null) await Master.DisposeAsync();
        if (_liar is not null) await _liar.DisposeAsync();
        if (_liarNetwork is not null) await _liarNetwork.DisposeAsync();
        _dirs.Dispose();
    }
}

/// <summary>
/// DNS through the silo: `dt dns` against a real Dt.Silo process, dig answering from what it imported, the /v1/dns
/// routes, and the world-valid lookup as a command.
/// </summary>
public sealed class DnsSiloTests(DnsSilos silos) : IClassFixture<DnsSilos>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    private static async Task<(int Exit, string Out)> DigAsync(int port, params string[] args)
    {
        var (exit, output, _) = await Dig(port, args);
        return (exit, output.Trim());
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(Ct), type)!;

    private static async Task<DtProblem> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await ReadAsync(response, DtJsonContext.Default.DtProblem);
        Assert.Equal(code, problem.Code);
        return problem;
    }

    [Fact]
    public async Task Dt_dns_import_add_and_remove_change_what_dig_gets_from_both_nodes()
    {
        RequireTool("dig");
        var master = silos.Master.Api;
        string zoneFile = Path.Combine(silos.Scratch("dig"), "example.test.zone");
        await File.WriteAllTextAsync(zoneFile, SampleZone, Ct);

        Assert.Equal("example.test. serial 2024010101 (21 added, 0 removed)", await CliRun.OkAsync(master, null, "dns", "import", "example.test", zoneFile));
        // The command returns once the master serves the change; the node follows through the Dt table.
        foreach (int port in new[] { silos.MasterDnsPort, silos.NodeDnsPort })
            await Eventually.Until(async () => await DigAsync(port, "+short", "www.example.test", "A") == (0, "192.0.2.1"), $"dig gets the imported www from port {port}", Deadline, Polling.Dns);

        Assert.Equal("example.test. serial 2024010102 (1 added, 0 removed)", await CliRun.OkAsync(master, null, "dns", "add", "example.test", "new 60 IN A 192.0.2.77"));
        foreach (int port in new[] { silos.MasterDnsPort, silos.NodeDnsPort })
            await Eventually.Until(async () => await DigAsync(port, "+short", "new.example.test", "A") == (0, "192.0.2.77"), $"dig gets the added record from port {port}", Deadline, Polling.Dns);

        Assert.Equal("example.test. serial 2024010103 (0 added, 1 removed)", await CliRun.OkAsync(master, null, "dns", "remove", "example.test", "new A 192.0.2.77"));
        foreach (int port in new[] { silos.MasterDnsPort, silos.NodeDnsPort })
            await Eventually.Until(async () => (await DigAsync(port, "new.example.test", "A")).Out.Contains("status: NXDOMAIN"), $"dig gets NXDOMAIN for the removed record from port {port}", Deadline, Polling.Dns);

        var again = await CliRun.RunAsync(master, null, "dns", "remove", "example.test", "new A");
        Assert.Equal(1, again.ExitCode);
        Assert.StartsWith("dt: zone example.test. holds no record matching 'new A'", again.Stderr.Trim());

        // Other tests' zones may be listed too: the silos are shared.
        Assert.Contains("example.test.  serial 2024010103  21 records", (await CliRun.OkAsync(master, null, "dns", "zones")).Split('\n'));
        var shown = (await CliRun.OkAsync(master, null, "dns", "show", "example.test")).Split('\n');
        Assert.StartsWith("example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010103 ", shown[0]);
        Assert.Contains("www.example.test. 300 IN A 192.0.2.1", shown);
        Assert.Equal(21, shown.Length);

        // A change on the non-master is refused with the engine's reason.
        var refused = await CliRun.RunAsync(silos.Node.Api, null, "dns", "add", "example.test", "x 60 IN A 192.0.2.9");
        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith("dt: this node is not a master", refused.Stderr.Trim());
    }

    [Fact]
    public async Task A_zone_imported_with_dt_dns_on_a_signing_master_silo_is_served_signed_by_both_silos()
    {
        RequireTool("dig");
        var master = silos.Master.Api;
        string zoneFile = Path.Combine(silos.Scratch("signed"), "signed.test.zone");
        await File.WriteAllTextAsync(zoneFile, DnsSilos.LookupZone.Replace("lookup.test.", "signed.test."), Ct);
        Assert.StartsWith("signed.test. serial 1 (", await CliRun.OkAsync(master, null, "dns", "import", DnsSilos.SignedZone, zoneFile));
        foreach (int port in new[] { silos.MasterDnsPort, silos.NodeDnsPort })
        {
            await Eventually.Until(async () => (await DigAsync(port, "+dnssec", "www.signed.test", "A")).Out.Contains("RRSIG\tA 13 3 300"),
                $"dig +dnssec gets the signed www from port {port}", Deadline, Polling.Dns);
            var nx = await DigAsync(port, "+dnssec", "nothere.signed.test", "A");
            Assert.Contains("status: NXDOMAIN", nx.Out);
            Assert.Contains("RRSIG\tNSEC 13", nx.Out);
        }
    }

    [Fact]
    public async Task The_http_routes_manage_a_zone_with_problems_for_bad_input()
    {
        using var http = new HttpClient { BaseAddress = silos.Master.Api, Timeout = TimeSpan.FromSeconds(30) };
        const string zone = """
            $TTL 300
            @   IN SOA ns1 hostmaster 7 3600 600 1209600 60
                IN NS  ns1
            ns1 IN A   192.0.2.53
            www IN A   192.0.2.1
            """;
        var put = await http.PutAsync("/v1/dns/zones/http.test", new StringContent(zone), Ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var imported = await ReadAsync(put, DnsJsonContext.Default.DnsChangeResult);
        Assert.Equal(("http.test.", 7u, 4, true), (imported.Zone, imported.Serial, imported.Added, imported.Changed));
        await Eventually.Until(async () => (await Query(silos.MasterDnsPort, "www.http.test.", RrType.A)).Answers.Count == 1, "the imported zone is answered", Deadline, Polling.Dns);

        var zones = await ReadAsync(await http.GetAsync("/v1/dns/zones", Ct), DnsJsonContext.Default.IReadOnlyListDnsZoneInfo);
        Assert.Contains(zones, z => z is { Zone: "http.test.", Serial: 7, Records: 4 });
        var lines = await ReadAsync(await http.GetAsync("/v1/dns/zones/http.test.", Ct), DnsJsonContext.Default.IReadOnlyListString);
        Assert.Equal([
            "http.test. 300 IN SOA ns1.http.test. hostmaster.http.test. 7 3600 600 1209600 60",
            "http.test. 300 IN NS ns1.http.test.",
            "ns1.http.test. 300 IN A 192.0.2.53",
            "www.http.test. 300 IN A 192.0.2.1",
        ], lines);

        // A record as text, or as a JSON string.
        var added = await http.PostAsync("/v1/dns/zones/http.test/records", new StringContent("\"api 60 IN AAAA 2001:db8::5\"", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        var a = await ReadAsync(added, DnsJsonContext.Default.DnsChangeResult);
        Assert.Equal((8u, 1), (a.Serial, a.Added));
        await Eventually.Until(async () => (await Query(silos.MasterDnsPort, "api.http.test.", RrType.AAAA)).Answers.Count == 1, "the added record is answered", Deadline, Polling.Dns);
        var same = await ReadAsync(await http.PostAsync("/v1/dns/zones/http.test/records", new StringContent("api 60 IN AAAA 2001:db8::5"), Ct), DnsJsonContext.Default.DnsChangeResult);
        Assert.False(same.Changed);

        var removed = await http.DeleteAsync("/v1/dns/zones/http.test/records?record=api%20AAAA", Ct);
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        Assert.Equal(1, (await ReadAsync(removed, DnsJsonContext.Default.DnsChangeResult)).Removed);
        await ProblemAsync(await http.DeleteAsync("/v1/dns/zones/http.test/records?record=api%20AAAA", Ct), HttpStatusCode.NotFound, DtApiErrors.NotFound);

        // Bad input: 400 naming the problem, 404 for what is not there, 413 over Silo:MaxBodyBytes.
        var badRecord = await ProblemAsync(await http.PostAsync("/v1/dns/zones/http.test/records", new StringContent("bad 60 IN A 1.2.3"), Ct), HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument);
        Assert.Contains("1.2.3", badRecord.Detail);
        var badFile = await ProblemAsync(await http.PutAsync("/v1/dns/zones/bad.test", new StringContent("@ IN SOA ns1 hostmaster 1 1 1 1 1\nwww IN A 192.0.2.1 extra\n"), Ct), HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument);
        Assert.Contains("line 2", badFile.Detail);
        await ProblemAsync(await http.PostAsync("/v1/dns/zones/http.test/records", new StringContent(" "), Ct), HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument);
        await ProblemAsync(await http.DeleteAsync("/v1/dns/zones/http.test/records", Ct), HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument);
        await ProblemAsync(await http.GetAsync("/v1/dns/lookup?name=a..b", Ct), HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument);
        await ProblemAsync(await http.GetAsync("/v1/dns/lookup?name=www.http.test&type=NOPE", Ct), HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument);
        await ProblemAsync(await http.GetAsync("/v1/dns/lookup?name=www.http.test&expect=0", Ct), HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument);
        await ProblemAsync(await http.GetAsync("/v1/dns/zones/nothere.test", Ct), HttpStatusCode.NotFound, DtApiErrors.NotFound);
        var big = new StringContent(zone + string.Concat(Enumerable.Range(0, 4000).Select(i => $"h{i} IN A 192.0.2.{i % 250}\n")));
        await ProblemAsync(await http.PutAsync("/v1/dns/zones/big.test", big, Ct), HttpStatusCode.RequestEntityTooLarge, DtErrorCodes.TooLarge);

        var deleted = await http.DeleteAsync("/v1/dns/zones/http.test", Ct);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await ProblemAsync(await http.GetAsync("/v1/dns/zones/http.test", Ct), HttpStatusCode.NotFound, DtApiErrors.NotFound);
        await ProblemAsync(await http.DeleteAsync("/v1/dns/zones/http.test", Ct), HttpStatusCode.NotFound, DtApiErrors.NotFound);
        await Eventually.Until(async () => (await Query(silos.MasterDnsPort, "www.http.test.", RrType.A)).Rcode == DnsRcode.Refused, "the deleted zone is no longer served", Deadline, Polling.Dns);
    }

    [Fact]
    public async Task Dt_dns_lookup_reports_agreeing_nodes_and_exits_1_naming_the_node_that_differs()
    {
        var master = silos.Master.Api;
        var import = await CliRun.RunWithInputAsync(master, null, DnsSilos.LookupZone, "dns", "import", "lookup.test", "-");
        Assert.True(import.ExitCode == 0, import.ToString());
        Assert.Equal("lookup.test. serial 1 (6 added, 0 removed)", import.Stdout.Trim());
        string nodeId;
        using (var client = silos.Node.Client()) nodeId = (await client.GetNode().GetInfo()).NodeId.ToString();

        // www is the same everywhere: the master asks its own server, the node asks the liar.
        var www = await CliRun.RunAsync(master, null, "dns", "lookup", "www.lookup.test", "--expect", "2");
        Assert.True(www.ExitCode == 0, www.ToString());
        Assert.StartsWith("www.lookup.test. A: 2 nodes answered, consistent", www.Stdout);
        Assert.Contains("  www.lookup.test. A 192.0.2.1", www.Stdout);

        // The MX differs: two groups, exit 1, the differing node named.
        var mx = await CliRun.RunAsync(master, null, "dns", "lookup", "lookup.test", "MX", "--expect", "2");
        Assert.True(mx.ExitCode == 1, mx.ToString());
        Assert.StartsWith("lookup.test. MX: 2 nodes answered, INCONSISTENT, 1 differ", mx.Stdout);
        Assert.Contains("  lookup.test. MX 10 mail.lookup.test.", mx.Stdout);
        Assert.Contains("  lookup.test. MX 20 evil.attacker.test.", mx.Stdout);
        Assert.Contains(nodeId, mx.Stdout);
        Assert.StartsWith("dt: the answers for lookup.test. MX differ; differing nodes: ", mx.Stderr.Trim());

        // The same report as JSON, from the route the command uses.
        using var http = new HttpClient { BaseAddress = master, Timeout = TimeSpan.FromSeconds(30) };
        var report = await ReadAsync(await http.GetAsync("/v1/dns/lookup?name=lookup.test&type=MX&expect=2", Ct), DnsJsonContext.Default.WorldLookupReport);
        Assert.Equal(2, report.Answers.Count);
        Assert.False(report.Consistent);
        Assert.Single(report.DifferingNodes);
    }
}
