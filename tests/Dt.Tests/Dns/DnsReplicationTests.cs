using System.Diagnostics;
using System.Globalization;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Dt.Hosting;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// Several Dt nodes, each a DNS server: changes on the master reach every node's answers; nsupdate drives the
/// master; serials are equal exactly when contents are; world-valid lookups catch a node fed a different answer.
/// </summary>
public sealed class DnsReplicationTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private static readonly DnsName Apex = DnsName.Parse("example.test.");

    private static async Task<(DtNode[] Nodes, DnsService[] Dns)> Start(TestCluster cluster, Action<int, DnsOptions>? configure = null)
    {
        var master = await cluster.Start(master: true);
        var second = await cluster.Start(peers: [master]);
        var third = await cluster.Start(peers: [second]); // a chain: the third hears the master only through the second
        DtNode[] nodes = [master, second, third];
        var dns = new DnsService[3];
        for (int i = 0; i < 3; i++)
        {
            int k = i;
            dns[i] = await StartDns(nodes[i], o => configure?.Invoke(k, o));
        }
        await TestCluster.WaitLinked(third, second);
        await TestCluster.WaitLinked(second, master);
        return (nodes, dns);
    }

    private static async Task StopAll(DnsService[] dns)
    {
        foreach (var d in dns) await d.DisposeAsync();
    }

    [Fact]
    public async Task A_record_added_or_removed_on_the_master_is_answered_by_all_three_nodes()
    {
        await using var cluster = new TestCluster();
        var (_, dns) = await Start(cluster);
        try
        {
            var result = await dns[0].Editor.ImportZoneAsync(Zone, SampleZone, Ct);
            await Eventually.Until(async () => await SameSerialEverywhere(dns) == result.Serial, "all nodes serve the imported zone", Deadline, Polling.Dns);

            var sw = Stopwatch.StartNew();
            await dns[0].Editor.AddRecordAsync(Zone, "fresh 60 IN A 192.0.2.200", Ct);
            foreach (var d in dns)
                await Eventually.Until(async () => (await Query(d.Port, "fresh.example.test.", RrType.A)).Answers is [{ Data: AData a }] && a.ToText() == "192.0.2.200",
                    $"node on port {d.Port} answers the added record", Deadline, Polling.Dns);
            var added = sw.Elapsed;
            uint serial = await SameSerialEverywhere(dns);
            Assert.NotEqual(0u, serial);

            sw.Restart();
            await dns[0].Editor.RemoveRecordAsync(Zone, "fresh A", Ct);
            foreach (var d in dns)
                await Eventually.Until(async () => (await Query(d.Port, "fresh.example.test.", RrType.A)).Rcode == DnsRcode.NXDomain,
                    $"node on port {d.Port} no longer answers the removed record", Deadline, Polling.Dns);
            var removed = sw.Elapsed;
            TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"visible at all 3 nodes: add {added.TotalMilliseconds:0} ms, remove {removed.TotalMilliseconds:0} ms"));

            // Equal serials, equal zones: the whole zone through AXFR, from every node.
            await Eventually.Until(async () => await SameSerialEverywhere(dns) != 0, "all nodes serve one serial", Deadline, Polling.Dns);
            var zones = new List<List<string>>();
            foreach (var d in dns) zones.Add(AnswerLines((await Dig(d.Port, "example.test", "AXFR", "+nocmd", "+nostats")).Out));
            Assert.Equal(zones[0], zones[1]);
            Assert.Equal(zones[0], zones[2]);
        }
        finally
        {
            await StopAll(dns);
        }
    }

    /// <summary>The serial all nodes serve, or 0 if they differ.</summary>
    private static async Task<uint> SameSerialEverywhere(DnsService[] dns)
    {
        var serials = new List<uint>();
        foreach (var d in dns)
        {
            var r = await Query(d.Port, "example.test.", RrType.SOA);
            if (r.Answers is not [{ Data: SoaData soa }]) return 0;
            serials.Add(soa.Serial);
        }
        return serials.Distinct().Count() == 1 ? serials[0] : 0;
    }

    [Fact]
    public async Task Nsupdate_adds_and_deletes_on_the_master_and_every_node_answers()
    {
        string nsupdate = RequireTool("nsupdate");
        string secret = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        await using var cluster = new TestCluster();
        var (_, dns) = await Start(cluster, (_, o) => o.TsigKeys = [new DnsTsigKey { Name = "update-key", Secret = secret }]);
        try
        {
            await dns[0].Editor.ImportZoneAsync(Zone, SampleZone, Ct);
            await Eventually.Until(async () => await SameSerialEverywhere(dns) != 0, "all nodes serve the zone", Deadline, Polling.Dns);
            string P(DnsService d) => d.Port.ToString(CultureInfo.InvariantCulture);
            string[] signed = ["-y", $"hmac-sha256:update-key:{secret}"];

            var add = await Run(nsupdate, signed, $"""
                server 127.0.0.1 {P(dns[0])}
                zone example.test
                update add nsu.example.test 300 A 192.0.2.150
                update add nsu.example.test 300 TXT "hello from nsupdate"
                send

                """);
            Assert.True(add.Exit == 0, add.Out + add.Err);
            foreach (var d in dns)
                await Eventually.Until(async () => (await Query(d.Port, "nsu.example.test.", RrType.A)).Answers.Count == 1
                                             && (await Query(d.Port, "nsu.example.test.", RrType.TXT)).Answers.Count == 1,
                    $"node on port {d.Port} answers the records nsupdate added", Deadline, Polling.Dns);

            var delete = await Run(nsupdate, signed, $"""
                server 127.0.0.1 {P(dns[0])}
                zone example.test
                prereq yxrrset nsu.example.test A
                update delete nsu.example.test A
                send

                """);
            Assert.True(delete.Exit == 0, delete.Out + delete.Err);
            foreach (var d in dns)
                await Eventually.Until(async () =>
                {
                    var a = await Query(d.Port, "nsu.example.test.", RrType.A);
                    return a.Rcode == DnsRcode.NoError && a.Answers.Count == 0 && (await Query(d.Port, "nsu.example.test.", RrType.TXT)).Answers.Count == 1;
                }, $"node on port {d.Port} no longer answers the deleted record", Deadline, Polling.Dns);

            // Not signed and not from an allowed address: refused. Signed with a wrong secret: NOTAUTH (BADSIG).
            var unsigned = await Run(nsupdate, [], $"server 127.0.0.1 {P(dns[0])}\nzone example.test\nupdate add x.example.test 300 A 192.0.2.1\nsend\n");
            Assert.NotEqual(0, unsigned.Exit);
            Assert.Contains("REFUSED", unsigned.Out + unsigned.Err);
            string wrong = Convert.ToBase64String(new byte[32]);
            var forged = await Run(nsupdate, ["-y", $"hmac-sha256:update-key:{wrong}"], $"server 127.0.0.1 {P(dns[0])}\nzone example.test\nupdate add x.example.test 300 A 192.0.2.1\nsend\n");
            Assert.NotEqual(0, forged.Exit);
            // A node that is not a master refuses even a signed update.
            var notMaster = await Run(nsupdate, signed, $"server 127.0.0.1 {P(dns[1])}\nzone example.test\nupdate add x.example.test 300 A 192.0.2.1\nsend\n");
            Assert.NotEqual(0, notMaster.Exit);
            Assert.Contains("REFUSED", notMaster.Out + notMaster.Err);
            Assert.Equal(DnsRcode.NXDomain, (await Query(dns[0].Port, "x.example.test.", RrType.A)).Rcode);
        }
        finally
        {
            await StopAll(dns);
        }
    }

    [Fact]
    public async Task World_valid_lookup_flags_the_node_whose_resolver_gives_a_different_answer()
    {
        // A separate network plays a resolver that was fed a different MX.
        await using var other = new TestCluster();
        var liarNode = await other.Start(master: true);
        await using var liar = await StartDns(liarNode);
        await liar.Editor.ImportZoneAsync(Zone, SampleZone.Replace("IN MX   10 mail", "IN MX   20 evil.attacker.test."), Ct);

        await using var cluster = new TestCluster();
        int honestPort = FreePort();
        var (nodes, dns) = await Start(cluster, (i, o) =>
        {
            if (i == 0) o.Port = honestPort;
            o.Resolver = $"127.0.0.1:{(i == 2 ? liar.Port : honestPort)}";
        });
        try
        {
            await dns[0].Editor.ImportZoneAsync(Zone, SampleZone, Ct);
            var mx = await dns[1].Lookup.RunAsync("example.test", "MX", expectedNodes: 3, timeout: Deadline, ct: Ct);
            Assert.Equal(3, mx.Answers.Count);
            Assert.False(mx.Consistent);
            Assert.Equal([nodes[2].NodeId.ToString()], mx.DifferingNodes);
            var majority = mx.Groups.Single(g => g.Majority);
            Assert.Equal(["example.test. MX 10 mail.example.test."], majority.Records);
            Assert.Contains(mx.Groups, g => !g.Majority && g.Records.SequenceEqual(["example.test. MX 20 evil.attacker.test."]));
            string json = System.Text.Json.JsonSerializer.Serialize(mx, DnsJsonContext.Default.WorldLookupReport);
            Assert.Contains($"\"differingNodes\":[\"{nodes[2].NodeId}\"]", json);
            Assert.Contains("\"consistent\":false", json);

            var www = await dns[2].Lookup.RunAsync("www.example.test", "A", expectedNodes: 3, timeout: Deadline, ct: Ct);
            Assert.True(www.Consistent, string.Join("; ", www.Answers));
            Assert.Empty(www.DifferingNodes);
        }
        finally
        {
            await StopAll(dns);
        }
    }

    [Fact]
    public async Task A_node_serves_a_serial_only_for_the_content_committed_under_it()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        await using var dns = await StartDns(master, o => o.KeeperGrace = TimeSpan.FromMilliseconds(500));
        var first = await dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);

        // A record written straight into the table (no serial marker): the old version stays in service...
        var table = master.GetTable("dns");
        await table.AddObject(DnsObjects.ToObject(Apex, ZoneRulesRecord("raw.example.test. 300 IN A 192.0.2.9")));
        Assert.Equal(DnsRcode.NXDomain, (await Query(dns.Port, "raw.example.test.", RrType.A)).Rcode);
        Assert.Equal(first.Serial, dns.Zones.Table.Get(Apex)!.Snapshot!.Serial);

        // ...until the master's keeper commits a serial for what the zone now holds.
        await Eventually.Until(async () => (await Query(dns.Port, "raw.example.test.", RrType.A)).Answers.Count == 1, "the keeper commits the new content", Deadline, Polling.Dns);
        var snapshot = dns.Zones.Table.Get(Apex)!.Snapshot!;
        Assert.True(SerialNumber.Greater(snapshot.Serial, first.Serial));

        // Same content, same serial, same digest, on any node that holds it.
        var state = dns.Zones.GetState(Apex)!;
        Assert.Equal(snapshot.Digest, state.Digest);
        Assert.Contains(state.Markers, m => m.Serial == snapshot.Serial && m.Digest == snapshot.Digest);
    }

    private static DnsRecord ZoneRulesRecord(string text) => Dt.Dns.Text.ZoneText.ParseRecord(text, DnsName.Root);
}
