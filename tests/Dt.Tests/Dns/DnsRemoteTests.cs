using Dt.Dns;
using Dt.Dns.Lookup;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Dt.Tests.Engine;
using Dt.Tests.Silo;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// The DNS service and the editor through a remote client (the silo's HTTP API) instead of an in-process node: the
/// same code, reaching the node only through <see cref="IDtGrainFactory"/>, as the CLI does.
/// </summary>
public sealed class DnsRemoteTests
{
    [Fact]
    public async Task The_service_editor_and_lookup_work_through_a_remote_client()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        await using var silo = await InProcessSilo.StartAsync(master);
        using var client = silo.Client();

        // What `dt dns import` does: an editor over the remote client.
        var editor = new DnsZoneEditor(client);
        var imported = await editor.ImportZoneAsync(Zone, SampleZone, Ct);
        Assert.Equal(2024010101u, imported.Serial);

        // A DNS service fed by the remote node.
        var options = DnsOptions.ForTests();
        options.AnswerLookups = false; // one lookup responder per node: the in-process one below
        await using var dns = new DnsService(client, options, Loggers);
        await dns.StartAsync(Ct);
        await Eventually.Until(async () => (await Query(dns.Port, "www.example.test.", RrType.A)).Answers.Count == 1, "the remote-fed server answers", TimeSpan.FromSeconds(15), Polling.Dns);

        var added = await editor.AddRecordAsync(Zone, "remote 60 IN A 192.0.2.123", Ct);
        Assert.Equal(imported.Serial + 1, added.Serial);
        await Eventually.Until(async () => (await Query(dns.Port, "remote.example.test.", RrType.A)).Answers.Count == 1, "the added record is answered", TimeSpan.FromSeconds(15), Polling.Dns);
        Assert.Equal(added.Serial, dns.Zones.Table.Get(DnsName.Parse("example.test."))!.Snapshot!.Serial);
        Assert.Equal(added.Serial, (await editor.ListZonesAsync(Ct)).Single().Serial);

        // What `dt dns lookup` does: a world-valid lookup requested through the remote client, answered by the node's
        // responder, which resolves through the server above.
        await using var local = await StartDns(master, o => o.Resolver = $"127.0.0.1:{dns.Port}");
        var report = await new WorldLookup(client).RunAsync("remote.example.test", "A", expectedNodes: 1, timeout: TimeSpan.FromSeconds(10), ct: Ct);
        Assert.True(report.Consistent, string.Join("; ", report.Answers));
        Assert.All(report.Answers, a => Assert.Equal(["remote.example.test. A 192.0.2.123"], a.Records));
    }
}
