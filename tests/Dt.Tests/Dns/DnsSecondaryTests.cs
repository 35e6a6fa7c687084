using System.Globalization;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Hosting;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// Stock secondaries (BIND 9 and Knot) follow a Dt node that is not the master: the master changes the zone, the
/// change replicates to the node, the node's serial moves, it sends NOTIFY, and the secondary transfers the zone
/// (IXFR) and answers exactly what the Dt node answers. The secondaries' refresh timers are left at the SOA's hour,
/// so only NOTIFY can make them follow within the deadline.
/// </summary>
public sealed class DnsSecondaryTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    private const string KeyName = "xfr-key";

    /// <summary>The transfer key's secret (32 bytes, base64), as tsig-keygen would give it.</summary>
    private static readonly string KeySecret = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>dig's option to sign with the transfer key.</summary>
    private static string DigKey => $"-yhmac-sha256:{KeyName}:{KeySecret}";

    [Fact]
    public async Task A_bind_secondary_follows_a_dt_node_with_TSIG_signed_transfers_and_notifies()
    {
        string named = RequireTool("named");
        await using var pair = await FollowedPair.StartAsync(tsig: true);
        var (masterDns, dns, secPort) = (pair.MasterDns, pair.Dns, pair.SecondaryPort);

        using var dir = new TempDir();
        File.WriteAllText(dir.File("named.conf"), $$"""
            key "{{KeyName}}" { algorithm hmac-sha256; secret "{{KeySecret}}"; };
            options {
              directory "{{dir.Path}}"; pid-file "{{dir.File("named.pid")}}";
              session-keyfile "{{dir.File("session.key")}}"; managed-keys-directory "{{dir.Path}}";
              listen-on port {{secPort}} { 127.0.0.1; }; listen-on-v6 { none; };
              recursion no; dnssec-validation no; notify no;
              transfer-source 127.0.0.1; notify-source 127.0.0.1;
              allow-transfer { 127.0.0.1; };
            };
            controls { };
            zone "example.test" { type secondary; primaries { 127.0.0.1 port {{dns.Port}} key "{{KeyName}}"; };
                                   file "{{dir.File("example.test.db")}}"; masterfile-format text; };
            """);
        using var bind = new Daemon(named, "-g", "-n", "1", "-c", dir.File("named.conf"));

        await FollowsChanges(masterDns, dns, secPort, () => bind.Log, "bind", DigKey);
        // BIND checked the signature on the SOA answers and on every transfer message (else "tsig verify failure").
        Assert.Contains("Transfer status: success", bind.Log);
        Assert.Contains($"TSIG {KeyName}", bind.Log);
        Assert.DoesNotContain("verify failure", bind.Log);
        Assert.DoesNotContain("expected a TSIG", bind.Log);
        Assert.Matches($@"received notify for zone 'example\.test': TSIG '{KeyName}'", bind.Log);

        // Without the key, or with a wrong one, the Dt node refuses the transfer.
        var unsigned = await Dig(dns.Port, "example.test", "AXFR");
        Assert.Contains("Transfer failed", unsigned.Out);
        var wrong = await Dig(dns.Port, "example.test", "AXFR", $"-yhmac-sha256:{KeyName}:{Convert.ToBase64String(new byte[32])}");
        Assert.DoesNotContain("IN	A	192.0.2.1", wrong.Out);
    }

    [Fact]
    public async Task A_knot_secondary_follows_a_dt_node_with_TSIG_signed_transfers_and_notifies()
    {
        string knotd = RequireTool("knotd");
        await using var pair = await FollowedPair.StartAsync(tsig: true);
        var (masterDns, dns, secPort) = (pair.MasterDns, pair.Dns, pair.SecondaryPort);

        using var dir = new TempDir();
        // Knot's ACL names the key: an unsigned or wrongly signed NOTIFY from the Dt node is refused, so following at
        // all shows the NOTIFYs are signed; the remote's key signs Knot's SOA and IXFR requests and checks the answers.
        File.WriteAllText(dir.File("knot.conf"), $"""
            server:
                rundir: "{dir.Path}"
                listen: 127.0.0.1@{secPort}
            database:
                storage: "{dir.Path}"
            log:
              - target: stderr
                any: info
            key:
              - id: {KeyName}
                algorithm: hmac-sha256
                secret: {KeySecret}
            remote:
              - id: primary
                address: 127.0.0.1@{dns.Port}
                key: {KeyName}
            acl:
              - id: from_primary
                address: 127.0.0.1
                key: {KeyName}
                action: [notify]
              - id: local_transfer
                address: 127.0.0.1
                action: [transfer]
            template:
              - id: default
                storage: "{dir.Path}"
                zonefile-sync: -1
            zone:
              - domain: example.test
                master: primary
                acl: [from_primary, local_transfer]
            """);
        using var knot = new Daemon(knotd, "-c", dir.File("knot.conf"));

        await FollowsChanges(masterDns, dns, secPort, () => knot.Log, "knot", DigKey);
        Assert.Matches(@"(?i)notify", knot.Log);
        Assert.DoesNotMatch(@"(?i)TSIG.*(fail|bad)|denied", knot.Log);
    }

    [Fact]
    public async Task A_bind_secondary_follows_a_dt_node_by_notify_and_transfer()
    {
        string named = RequireTool("named");
        await using var pair = await FollowedPair.StartAsync();
        var (masterDns, dns, secPort) = (pair.MasterDns, pair.Dns, pair.SecondaryPort);

        using var dir = new TempDir();
        File.WriteAllText(dir.File("named.conf"), $$"""
            options {
              directory "{{dir.Path}}"; pid-file "{{dir.File("named.pid")}}";
              session-keyfile "{{dir.File("session.key")}}"; managed-keys-directory "{{dir.Path}}";
              listen-on port {{secPort}} { 127.0.0.1; }; listen-on-v6 { none; };
              recursion no; dnssec-validation no; notify no;
              transfer-source 127.0.0.1; notify-source 127.0.0.1;
              allow-transfer { 127.0.0.1; };
            };
            controls { };
            zone "example.test" { type secondary; primaries { 127.0.0.1 port {{dns.Port}}; };
                                   file "{{dir.File("example.test.db")}}"; masterfile-format text; };
            """);
        using var bind = new Daemon(named, "-g", "-n", "1", "-c", dir.File("named.conf"));

        await FollowsChanges(masterDns, dns, secPort, () => bind.Log, "bind");
        Assert.Contains("Transfer status: success", bind.Log);
        Assert.Matches(@"notify from 127\.0\.0\.1#\d+: serial \d+", bind.Log);
        // The changes came incrementally: SOA, old SOA, (deletions), new SOA, (additions), SOA = 5 records for one record.
        Assert.Contains("Transfer completed: 1 messages, 5 records", bind.Log);
    }

    [Fact]
    public async Task A_knot_secondary_follows_a_dt_node_by_notify_and_transfer()
    {
        string knotd = RequireTool("knotd");
        await using var pair = await FollowedPair.StartAsync();
        var (masterDns, dns, secPort) = (pair.MasterDns, pair.Dns, pair.SecondaryPort);

        using var dir = new TempDir();
        File.WriteAllText(dir.File("knot.conf"), $"""
            server:
                rundir: "{dir.Path}"
                listen: 127.0.0.1@{secPort}
            database:
                storage: "{dir.Path}"
            log:
              - target: stderr
                any: info
            remote:
              - id: primary
                address: 127.0.0.1@{dns.Port}
            acl:
              - id: from_primary
                address: 127.0.0.1
                action: [notify, transfer]
            template:
              - id: default
                storage: "{dir.Path}"
                zonefile-sync: -1
            zone:
              - domain: example.test
                master: primary
                acl: from_primary
            """);
        using var knot = new Daemon(knotd, "-c", dir.File("knot.conf"));

        await FollowsChanges(masterDns, dns, secPort, () => knot.Log, "knot");
        Assert.Matches(@"(?i)notify", knot.Log);
    }

    /// <summary>A master and a follower node, each serving DNS, the follower NOTIFYing a secondary's port, both
    /// serving the sample zone.</summary>
    private sealed class FollowedPair : IAsyncDisposable
    {
        private readonly TestCluster _cluster = new();

        public DnsService MasterDns { get; private set; } = null!;

        public DnsService Dns { get; private set; } = null!;

        public int SecondaryPort { get; } = FreePort();

        /// <summary>With <paramref name="tsig"/>, the follower allows transfers only signed with <see cref="KeyName"/> and signs its NOTIFYs.</summary>
        public static async Task<FollowedPair> StartAsync(bool tsig = false)
        {
            var pair = new FollowedPair();
            var master = await pair._cluster.Start(master: true);
            var follower = await pair._cluster.Start(peers: [master]);
            pair.MasterDns = await StartDns(master);
            pair.Dns = await StartDns(follower, o =>
            {
                o.Notify = [$"127.0.0.1:{pair.SecondaryPort}" + (tsig ? $" key {KeyName}" : "")];
                if (!tsig) return;
                o.TsigKeys = [new DnsTsigKey { Name = KeyName, Secret = KeySecret }];
                o.TransferAllow = [$"127.0.0.1 key {KeyName}"];
            });
            await pair.MasterDns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
            await WaitServes(pair.Dns, pair.MasterDns);
            return pair;
        }

        public async ValueTask DisposeAsync()
        {
            if (Dns is not null) await Dns.DisposeAsync();
            if (MasterDns is not null) await MasterDns.DisposeAsync();
            await _cluster.DisposeAsync();
        }
    }

    private static async Task WaitServes(DnsService follower, DnsService master)
    {
        var zone = DnsName.Parse("example.test.");
        uint serial = master.Zones.Table.Get(zone)!.Snapshot!.Serial;
        Assert.True(await follower.Zones.WaitForSerialAsync(zone, serial, Deadline, Ct), "the follower serves the master's serial");
    }

    /// <summary>The secondary loads the zone, then follows an add and a remove; its zone equals the Dt node's each time.</summary>
    private static async Task FollowsChanges(DnsService masterDns, DnsService dns, int secPort, Func<string> log, string who, params string[] digKey)
    {
        try
        {
            await SameZone(dns.Port, secPort, who, digKey);

            await masterDns.Editor.AddRecordAsync(Zone, "new 300 IN A 192.0.2.77", Ct);
            await Eventually.Until(async () => (await Query(secPort, "new.example.test.", RrType.A)).Answers.Count == 1, $"{who} answers the added record", Deadline, Polling.Dns);
            await SameZone(dns.Port, secPort, who, digKey);

            await masterDns.Editor.RemoveRecordAsync(Zone, "mail A 192.0.2.25", Ct);
            await Eventually.Until(async () => (await Query(secPort, "mail.example.test.", RrType.A)).Rcode == DnsRcode.NXDomain, $"{who} no longer has the removed record", Deadline, Polling.Dns);
            await SameZone(dns.Port, secPort, who, digKey);

            // Same answers from both for a few names, through dig.
            foreach (var (name, type) in new[] { ("new.example.test", "A"), ("mail.example.test", "A"), ("example.test", "MX"), ("www.example.test", "AAAA") })
            {
                var a = await Dig(dns.Port, name, type, "+noall", "+answer", "+authority");
                var b = await Dig(secPort, name, type, "+noall", "+answer", "+authority");
                Assert.Equal(AnswerLines(a.Out), AnswerLines(b.Out));
            }
        }
        catch
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"--- {who} ---\n{log()}");
            throw;
        }
    }

    /// <summary>Waits until both serve the same SOA serial, then compares their whole zones (AXFR from both).</summary>
    private static async Task SameZone(int dtPort, int secPort, string who, string[] digKey)
    {
        uint dtSerial = 0;
        await Eventually.Until(async () =>
        {
            var a = await Query(dtPort, "example.test.", RrType.SOA);
            var b = await Query(secPort, "example.test.", RrType.SOA);
            dtSerial = ((SoaData)a.Answers[0].Data).Serial;
            return b.Answers.Count == 1 && ((SoaData)b.Answers[0].Data).Serial == dtSerial;
        }, $"{who} serves the Dt node's serial", Deadline, Polling.Dns);
        var dt = AnswerLines((await Dig(dtPort, ["example.test", "AXFR", "+nocmd", "+nostats", .. digKey])).Out).Where(l => !l.Contains(" TSIG ")).ToList();
        var sec = AnswerLines((await Dig(secPort, "example.test", "AXFR", "+nocmd", "+nostats")).Out);
        Assert.Equal(dt.Distinct(), sec.Distinct());
    }
}
