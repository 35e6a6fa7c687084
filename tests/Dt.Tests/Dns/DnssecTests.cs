using System.Globalization;
using System.Text.RegularExpressions;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// A zone signed on the master and served by every node: the master holds the keys, the signatures, DNSKEY and
/// NSEC records reach the follower through the table, and stock tools check the result: dig shows the RRSIGs on
/// both nodes, a BIND validating resolver per node (trust anchor: the DS the master gives for its parent) sets AD on
/// answers, NODATA, wildcard and NXDOMAIN, and delv validates a record changed on the master on every node.
/// </summary>
public sealed class DnssecTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly DnsName Apex = DnsName.Parse("example.test.");

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    /// <summary>A signing master and a follower without keys, both serving the signed sample zone.</summary>
    private sealed class SignedPair : IAsyncDisposable
    {
        private readonly TestCluster _cluster = new();
        public readonly TempDir Keys = new();
        public DnsService Master { get; private set; } = null!;
        public DnsService Follower { get; private set; } = null!;
        public DnsService[] Nodes => [Master, Follower];

        /// <summary><paramref name="keys"/> runs first (to put key files in place); <paramref name="clock"/> is the master's.</summary>
        public static async Task<SignedPair> StartAsync(Action<DnsOptions>? configure = null, TimeProvider? clock = null, Func<string, Task>? keys = null)
        {
            var pair = new SignedPair();
            if (keys is not null) await keys(pair.Keys.Path);
            var master = await pair._cluster.Start(master: true);
            var follower = await pair._cluster.Start(peers: [master]);
            var options = DnsOptions.ForTests();
            options.SignedZones = [Zone];
            options.KeyDirectory = pair.Keys.Path;
            configure?.Invoke(options);
            pair.Master = new DnsService(master, options, Loggers, clock);
            await pair.Master.StartAsync(Ct);
            pair.Follower = await StartDns(follower);
            await pair.Master.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
            await pair.WaitSameSerial();
            return pair;
        }

        public async Task WaitSameSerial()
        {
            uint serial = Master.Zones.Table.Get(Apex)!.Snapshot!.Serial;
            Assert.True(await Follower.Zones.WaitForSerialAsync(Apex, serial, Deadline, Ct), "the follower serves the master's serial");
        }

        public async ValueTask DisposeAsync()
        {
            if (Follower is not null) await Follower.DisposeAsync();
            if (Master is not null) await Master.DisposeAsync();
            await _cluster.DisposeAsync();
            Keys.Dispose();
        }
    }

    [Fact]
    public async Task Dig_shows_RRSIGs_DNSKEYs_and_NSEC_denials_from_the_master_and_the_follower_only_with_DO()
    {
        RequireTool("dig");
        await using var pair = await SignedPair.StartAsync();
        Assert.Equal(2, Directory.GetFiles(pair.Keys.Path, "K*.private").Length); // a KSK and a ZSK, generated on the master
        var ds = Assert.Single(pair.Master.DsRecords(Zone));
        Assert.Matches(@"^example\.test\. IN DS \d+ 13 2 [0-9A-F]{64}$", ds);

        foreach (var node in pair.Nodes)
        {
            var a = await Dig(node.Port, "+dnssec", "+norec", "www.example.test", "A");
            Assert.Matches(@"www\.example\.test\.\s+300\s+IN\s+RRSIG\s+A 13 3 300 \d{14} \d{14} \d+ example\.test\. ", a.Out);
            Assert.Matches(@"flags: qr aa;", a.Out);

            var keys = await Dig(node.Port, "+dnssec", "example.test", "DNSKEY");
            Assert.Matches(@"IN\s+DNSKEY\s+257 3 13 ", keys.Out);
            Assert.Matches(@"IN\s+DNSKEY\s+256 3 13 ", keys.Out);
            Assert.Matches(@"IN\s+RRSIG\s+DNSKEY 13 2 ", keys.Out);

            var nx = await Dig(node.Port, "+dnssec", "nothere.example.test", "A");
            Assert.Contains("status: NXDOMAIN", nx.Out);
            Assert.Matches(@"IN\s+NSEC\s+", nx.Out);
            Assert.Matches(@"IN\s+RRSIG\s+NSEC 13 ", nx.Out);
            Assert.Matches(@"IN\s+RRSIG\s+SOA 13 ", nx.Out);

            var nodata = await Dig(node.Port, "+dnssec", "www.example.test", "MX");
            Assert.Matches(@"www\.example\.test\.\s+\d+\s+IN\s+NSEC\s+\S+ A AAAA RRSIG NSEC", nodata.Out);

            // Without DO: the same answers and no DNSSEC records, except when asked for by type.
            var plain = await Dig(node.Port, "www.example.test", "A");
            Assert.DoesNotContain("RRSIG", plain.Out);
            var plainNx = await Dig(node.Port, "nothere.example.test", "A");
            Assert.DoesNotContain("NSEC", plainNx.Out);
            Assert.Contains("status: NXDOMAIN", plainNx.Out);
            Assert.Matches(@"IN\s+DNSKEY\s+257 3 13 ", (await Dig(node.Port, "example.test", "DNSKEY")).Out);
            Assert.Matches(@"IN\s+RRSIG\s+A 13 ", (await Dig(node.Port, "www.example.test", "RRSIG")).Out);
        }
    }

    [Fact]
    public async Task A_bind_resolver_validates_every_node_and_a_change_on_the_master_validates_everywhere()
    {
        string named = RequireTool("named");
        RequireTool("dig");
        string delv = RequireTool("delv");
        await using var pair = await SignedPair.StartAsync();
        string ds = Assert.Single(pair.Master.DsRecords(Zone));
        var f = ds.Split(' ');
        // The trust anchor is the DS the parent would publish: what an operator takes from the master.
        string anchor = $"trust-anchors {{ \"example.test.\" static-ds {f[3]} {f[4]} {f[5]} \"{f[6]}\"; }};\n";

        var resolvers = new List<(DnsService Node, int Port, Daemon Bind, TempDir Dir)>();
        try
        {
            foreach (var node in pair.Nodes)
            {
                var dir = new TempDir();
                int port = FreePort();
                File.WriteAllText(dir.File("anchor.conf"), anchor);
                File.WriteAllText(dir.File("named.conf"), $$"""
                    options {
                      directory "{{dir.Path}}"; pid-file "{{dir.File("named.pid")}}";
                      session-keyfile "{{dir.File("session.key")}}"; managed-keys-directory "{{dir.Path}}";
                      listen-on port {{port}} { 127.0.0.1; }; listen-on-v6 { none; };
                      recursion yes; allow-recursion { 127.0.0.1; }; allow-query { 127.0.0.1; };
                      dnssec-validation yes; query-source address 127.0.0.1; notify no;
                    };
                    controls { };
                    {{anchor}}
                    zone "example.test" { type forward; forward only; forwarders { 127.0.0.1 port {{node.Port}}; }; };
                    """);
                resolvers.Add((node, port, new Daemon(named, "-g", "-n", "1", "-c", dir.File("named.conf")), dir));
            }

            foreach (var (node, port, bind, _) in resolvers)
            {
                string who = $"the resolver in front of the node on port {node.Port}";
                string answer = "";
                await Eventually.Until(async () =>
                {
                    var r = await Dig(port, "+dnssec", "www.example.test", "A");
                    answer = r.Out;
                    return r.Exit == 0 && r.Out.Contains("status: NOERROR");
                }, $"{who} answers", Deadline, Polling.Dns, () => Log(bind));
                Assert.Matches(@"flags: qr rd ra ad;", answer);
                Assert.Matches(@"www\.example\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.1", answer);
            }

            // A record added on the master: once a node serves it, it validates there (delv: no cache, each run from scratch).
            await pair.Master.Editor.AddRecordAsync(Zone, "fresh 300 IN A 192.0.2.200", Ct);
            foreach (var (node, port, _, dir) in resolvers)
            {
                await Eventually.Until(async () => (await Query(node.Port, "fresh.example.test.", RrType.A)).Answers.Count == 1,
                    $"the node on port {node.Port} serves the added record", Deadline, Polling.Dns);
                var v = await Run(delv, ["@127.0.0.1", "-p", P(node.Port), "-a", dir.File("anchor.conf"), "+root=example.test", "fresh.example.test", "A"]);
                Assert.True(v.Out.Contains("; fully validated") && v.Out.Contains("192.0.2.200"), $"delv on port {node.Port}:\n{v.Out}\n{v.Err}");
                var r = await Dig(port, "+dnssec", "fresh.example.test", "A");
                Assert.Matches(@"flags: qr rd ra ad;", r.Out);
                Assert.Contains("192.0.2.200", r.Out);
            }

            // Denials validate: NXDOMAIN, NODATA, a wildcard answer, and an insecure delegation's referral data.
            foreach (var (node, port, bind, dir) in resolvers)
            {
                var nx = await Dig(port, "+dnssec", "nothere.example.test", "A");
                Assert.True(nx.Out.Contains("status: NXDOMAIN") && Regex.IsMatch(nx.Out, "flags: qr rd ra ad;"), $"NXDOMAIN through node {node.Port}:\n{nx.Out}\n{bind.Log}");
                var nodata = await Dig(port, "+dnssec", "www.example.test", "MX");
                Assert.True(nodata.Out.Contains("status: NOERROR") && Regex.IsMatch(nodata.Out, "flags: qr rd ra ad;"), $"NODATA through node {node.Port}:\n{nodata.Out}");
                var wild = await Dig(port, "+dnssec", "x.wild.example.test", "TXT");
                Assert.True(wild.Out.Contains("\"wildcard\"") && Regex.IsMatch(wild.Out, "flags: qr rd ra ad;"), $"wildcard through node {node.Port}:\n{wild.Out}");
                var ent = await Dig(port, "+dnssec", "empty.nonterminal.example.test", "A");
                Assert.True(ent.Out.Contains("status: NOERROR") && Regex.IsMatch(ent.Out, "flags: qr rd ra ad;"), $"empty non-terminal through node {node.Port}:\n{ent.Out}");
                var v = await Run(delv, ["@127.0.0.1", "-p", P(node.Port), "-a", dir.File("anchor.conf"), "+root=example.test", "nothere.example.test", "A"]);
                Assert.True(v.Out.Contains("; negative response, fully validated"), $"delv NXDOMAIN on port {node.Port}:\n{v.Out}\n{v.Err}");
            }
        }
        finally
        {
            foreach (var (_, _, bind, dir) in resolvers)
            {
                bind.Dispose();
                dir.Dispose();
            }
        }
    }

    /// <summary>The system clock moved forward by <see cref="Offset"/> (timers still run in real time).</summary>
    private sealed class ShiftedClock : TimeProvider
    {
        private long _offsetTicks;

        public TimeSpan Offset
        {
            get => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
            set => Interlocked.Exchange(ref _offsetTicks, value.Ticks);
        }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
    }

    private static Dt.Dns.Zones.ZoneSnapshot Served(DnsService node) => node.Zones.Table.Get(Apex)!.Snapshot!;

    private static List<RrsigData> Sigs(Dt.Dns.Zones.ZoneSnapshot z, string name, RrType covered) =>
        z.Find(DnsName.Parse(name))?.SignaturesOf(covered)?.Records.Select(r => (RrsigData)r.Data).ToList() ?? [];

    /// <summary>Every RRSIG of the snapshot verifies with a DNSKEY of the snapshot over the RRset it covers.</summary>
    private static void AllVerify(Dt.Dns.Zones.ZoneSnapshot z)
    {
        var keys = z.Find(Apex)!.Get(RrType.DNSKEY)!.Records.Select(r => (DnskeyData)r.Data).ToList();
        foreach (var rr in z.Records.Where(r => r.Data is RrsigData))
        {
            var sig = (RrsigData)rr.Data;
            var key = keys.Single(k => k.KeyTag == sig.KeyTag);
            var set = z.Find(rr.Name)!.Get(sig.TypeCovered)!;
            Assert.True(Dt.Dns.Zones.ZoneSigner.Verify(sig, key, rr.Name, set.Records.Select(r => r.Data)), $"RRSIG {rr.Name} {sig.TypeCovered} by {sig.KeyTag}");
        }
    }

    [Fact]
    public async Task Signatures_close_to_expiry_are_renewed_by_the_master_and_reach_the_follower()
    {
        var clock = new ShiftedClock();
        await using var pair = await SignedPair.StartAsync(o => o.SigningInterval = TimeSpan.FromMilliseconds(200), clock);
        var first = Sigs(Served(pair.Follower), "www.example.test.", RrType.A).Single();
        uint serial = Served(pair.Follower).Serial;
        // Nothing is due: a signing pass changes nothing (no new serial) while the clock stands.
        var pass = await pair.Master.Editor.ResignAsync(Apex, Ct);
        Assert.False(pass.Changed);
        Assert.Equal(serial, pass.Serial);

        // 10 of the 14 days later, 4 days are left: under the 5-day refresh, every signature is replaced.
        clock.Offset = TimeSpan.FromDays(10);
        await Eventually.Until(() => Sigs(Served(pair.Follower), "www.example.test.", RrType.A) is [var s] && s.Expiration > first.Expiration,
            "the follower serves a renewed signature", Deadline);
        var z = Served(pair.Follower);
        long now = clock.GetUtcNow().ToUnixTimeSeconds();
        foreach (var rr in z.Records.Where(r => r.Data is RrsigData))
            Assert.True(((RrsigData)rr.Data).Expiration - now > TimeSpan.FromDays(5).TotalSeconds, $"{rr.Name} {((RrsigData)rr.Data).TypeCovered} renewed");
        AllVerify(z);
    }

    [Fact]
    public async Task A_pre_published_ZSK_rollover_made_with_dnssec_keygen_and_dnssec_settime_is_followed_by_every_node()
    {
        string keygen = RequireTool("dnssec-keygen");
        string settime = RequireTool("dnssec-settime");
        var clock = new ShiftedClock();
        string oldZsk = "";
        await using var pair = await SignedPair.StartAsync(o =>
        {
            o.SigningInterval = TimeSpan.FromMilliseconds(200);
            o.GenerateKeys = false;
        }, clock, async dir =>
        {
            Assert.Equal(0, (await Run(keygen, ["-q", "-K", dir, "-a", "ECDSAP256SHA256", "-f", "KSK", Zone])).Exit);
            var zsk = await Run(keygen, ["-q", "-K", dir, "-a", "ECDSAP256SHA256", Zone]);
            Assert.Equal(0, zsk.Exit);
            oldZsk = zsk.Out.Trim();
        });
        ushort oldTag = ushort.Parse(oldZsk[^5..], CultureInfo.InvariantCulture);
        int Keys(DnsService d) => Served(d).Find(Apex)!.Get(RrType.DNSKEY)!.Records.Length;
        Assert.Equal(2, Keys(pair.Follower));
        Assert.Equal([oldTag], Sigs(Served(pair.Follower), "www.example.test.", RrType.A).Select(s => s.KeyTag));

        // The procedure of docs/DNS.md: retire the old ZSK in a day, delete it in two; its successor is published 12 h
        // before it takes over (longer than the DNSKEY TTL, so resolvers hold the new key when signatures switch).
        Assert.Equal(0, (await Run(settime, ["-K", pair.Keys.Path, "-I", "+1d", "-D", "+2d", oldZsk])).Exit);
        var successor = await Run(keygen, ["-q", "-K", pair.Keys.Path, "-S", oldZsk, "-i", "12h"]);
        Assert.True(successor.Exit == 0, successor.Err);
        ushort newTag = ushort.Parse(successor.Out.Trim()[^5..], CultureInfo.InvariantCulture);

        clock.Offset = TimeSpan.FromHours(12) + TimeSpan.FromMinutes(1);
        await Eventually.Until(() => Keys(pair.Follower) == 3, "the successor's DNSKEY is published on the follower", Deadline);
        Assert.Equal([oldTag], Sigs(Served(pair.Follower), "www.example.test.", RrType.A).Select(s => s.KeyTag));
        AllVerify(Served(pair.Follower));

        clock.Offset = TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1);
        await Eventually.Until(() => Sigs(Served(pair.Follower), "www.example.test.", RrType.A).Select(s => s.KeyTag).SequenceEqual([newTag]),
            "the successor signs on the follower", Deadline);
        var z = Served(pair.Follower);
        Assert.Equal(3, Keys(pair.Follower)); // the old key stays published while its signatures may be cached
        Assert.DoesNotContain(z.Records, r => r.Data is RrsigData s && s.KeyTag == oldTag);
        AllVerify(z);

        clock.Offset = TimeSpan.FromDays(2) + TimeSpan.FromMinutes(1);
        await Eventually.Until(() => Keys(pair.Follower) == 2, "the old ZSK's DNSKEY is removed on the follower", Deadline);
        Assert.DoesNotContain(Served(pair.Follower).Find(Apex)!.Get(RrType.DNSKEY)!.Records, r => ((DnskeyData)r.Data).KeyTag == oldTag);
        AllVerify(Served(pair.Follower));
    }

    private static void Log(Daemon bind) => TestContext.Current.TestOutputHelper?.WriteLine(bind.Log);
}
