using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// One master node serving the sample zone, queried by stock clients (dig, kdig, drill) and by raw packets:
/// every supported type, NXDOMAIN, NODATA, REFUSED, FORMERR, NOTIMP, BADVERS, TCP, truncation and transfers.
/// </summary>
public sealed class DnsQueryTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;
    private DnsService _dns = null!;
    private int Port => _dns.Port;

    public async ValueTask InitializeAsync()
    {
        _cluster = new TestCluster();
        var master = await _cluster.Start(master: true);
        _dns = await StartDns(master);
        await _dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _dns.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Dig_gets_every_supported_type_with_the_AA_flag()
    {
        var cases = new (string Name, string Type, string Expected)[]
        {
            ("www.example.test", "A", "192.0.2.1"),
            ("www.example.test", "AAAA", "2001:db8::1"),
            ("alias.example.test", "CNAME", "www.example.test."),
            ("example.test", "MX", "10 mail.example.test."),
            ("example.test", "NS", "ns1.example.test."),
            ("example.test", "TXT", "\"v=spf1 -all\""),
            ("_sip._tcp.example.test", "SRV", "10 5 5060 sip.example.test."),
            ("1.2.0.192.in-addr.example.test", "PTR", "www.example.test."),
            ("example.test", "CAA", "0 issue \"letsencrypt.org\""),
            ("opaque.example.test", "TYPE65280", "\\# 4 0A0B0C0D"),
        };
        foreach (var (name, type, expected) in cases)
        {
            var (exit, output, _) = await Dig(Port, name, type, "+norec");
            Assert.Equal(0, exit);
            Assert.Contains("status: NOERROR", output);
            Assert.Matches(@"flags: qr aa[ ;]", output);
            Assert.Contains(expected, output);
        }
        var soa = await Dig(Port, "example.test", "SOA", "+short");
        Assert.Matches(@"^ns1\.example\.test\. hostmaster\.example\.test\. 2024010101 3600 600 1209600 60", soa.Out.Trim());
    }

    [Fact]
    public async Task Kdig_agrees_with_dig_on_every_type()
    {
        foreach (var (name, type) in new[] { ("www.example.test", "A"), ("www.example.test", "AAAA"), ("example.test", "MX"), ("example.test", "NS"),
                     ("example.test", "TXT"), ("_sip._tcp.example.test", "SRV"), ("example.test", "CAA"), ("alias.example.test", "CNAME"),
                     ("1.2.0.192.in-addr.example.test", "PTR"), ("example.test", "SOA"), ("opaque.example.test", "TYPE65280") })
        {
            var k = await Kdig(Port, name, type, "+short");
            var d = await Dig(Port, name, type, "+short");
            Assert.Equal(0, k.Exit);
            Assert.NotEqual("", k.Out.Trim());
            Assert.Equal(Norm(d.Out), Norm(k.Out));
        }
        var tcp = await Kdig(Port, "www.example.test", "A", "+tcp", "+short");
        Assert.Equal("192.0.2.1", tcp.Out.Trim());

        static string Norm(string s) => string.Join('\n', s.Split('\n').Select(l => l.Trim().ToUpperInvariant()).Where(l => l.Length > 0).Order());
    }

    [Fact]
    public async Task Negative_answers_carry_the_SOA_and_other_zones_are_refused()
    {
        var nx = await Dig(Port, "nope.example.test", "A", "+norec");
        Assert.Contains("status: NXDOMAIN", nx.Out);
        Assert.Matches(@"flags: qr aa", nx.Out);
        Assert.Matches(@"AUTHORITY SECTION:\s*\nexample\.test\.\s+60\s+IN\s+SOA", nx.Out);

        var nodata = await Dig(Port, "www.example.test", "TXT", "+norec");
        Assert.Contains("status: NOERROR", nodata.Out);
        Assert.Contains("ANSWER: 0", nodata.Out);
        Assert.Matches(@"AUTHORITY SECTION:\s*\nexample\.test\.\s+60\s+IN\s+SOA", nodata.Out);

        var ent = await Dig(Port, "empty.nonterminal.example.test", "A", "+norec");
        Assert.Contains("status: NOERROR", ent.Out);

        var refused = await Dig(Port, "www.other.test", "A", "+norec");
        Assert.Contains("status: REFUSED", refused.Out);

        var chaos = await Dig(Port, "version.bind", "CH", "TXT");
        Assert.Contains("status: REFUSED", chaos.Out);
    }

    [Fact]
    public async Task Cname_wildcard_and_delegation_follow_the_rfcs()
    {
        var alias = await Dig(Port, "alias.example.test", "A", "+norec", "+noall", "+answer");
        Assert.Equal(["alias.example.test. IN CNAME www.example.test.", "www.example.test. IN A 192.0.2.1"], AnswerLines(alias.Out));

        var wild = await Dig(Port, "anything.wild.example.test", "TXT", "+short");
        Assert.Equal("\"wildcard\"", wild.Out.Trim());

        var referral = await Dig(Port, "host.sub.example.test", "A", "+norec");
        Assert.Contains("status: NOERROR", referral.Out);
        Assert.DoesNotMatch(@"flags: qr aa", referral.Out);
        Assert.Matches(@"AUTHORITY SECTION:\s*\nsub\.example\.test\.\s+300\s+IN\s+NS\s+ns\.sub\.example\.test\.", referral.Out);
        Assert.Matches(@"ADDITIONAL SECTION:[\s\S]*ns\.sub\.example\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.99", referral.Out);

        var mx = await Dig(Port, "example.test", "MX", "+norec");
        Assert.Matches(@"ADDITIONAL SECTION:[\s\S]*mail\.example\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.25", mx.Out);
    }

    [Fact]
    public async Task Tcp_and_truncation_work_as_dig_expects()
    {
        var tcp = await Dig(Port, "www.example.test", "A", "+tcp", "+short");
        Assert.Equal("192.0.2.1", tcp.Out.Trim());

        // 1,000 bytes of TXT: over 512 without EDNS, so TC is set and the answer is empty.
        var truncated = await Dig(Port, "big.example.test", "TXT", "+noedns", "+ignore");
        Assert.Matches(@"flags: qr aa tc", truncated.Out);
        Assert.Contains("ANSWER: 0", truncated.Out);

        var retried = await Dig(Port, "big.example.test", "TXT", "+noedns");
        Assert.Contains("Truncated, retrying in TCP mode", retried.Out);
        Assert.Contains(new string('e', 200), retried.Out);

        // With EDNS at dig's 1232 bytes it fits over UDP.
        var edns = await Dig(Port, "big.example.test", "TXT");
        Assert.DoesNotContain("Truncated", edns.Out);
        Assert.Contains(new string('a', 200), edns.Out);

        var small = await Dig(Port, "big.example.test", "TXT", "+bufsize=600", "+ignore");
        Assert.Matches(@"flags: qr aa tc", small.Out);
    }

    [Fact]
    public async Task Bad_requests_get_FORMERR_NOTIMP_and_BADVERS()
    {
        var status = await Dig(Port, "+opcode=status", "www.example.test", "A");
        Assert.Contains("status: NOTIMP", status.Out);

        var badvers = await Dig(Port, "+edns=1", "+noednsneg", "www.example.test", "A");
        Assert.Contains("status: BADVERS", badvers.Out);

        // AXFR over UDP is not defined (RFC 5936 §4.2): FORMERR.
        var axfrUdp = await RawUdp(Dt.Dns.Lookup.DnsStubClient.NewQuery(DnsName.Parse("example.test."), RrType.AXFR).ToWire());
        Assert.Equal(DnsRcode.FormErr, (DnsRcode)(axfrUdp[3] & 0xF));

        // Raw: a question cut in half.
        var query = Dt.Dns.Lookup.DnsStubClient.NewQuery(DnsName.Parse("www.example.test."), RrType.A).ToWire();
        var cut = query[..20];
        cut[5] = 1; // qdcount 1, but the name ends early
        var answer = await RawUdp(cut);
        Assert.Equal(DnsRcode.FormErr, (DnsRcode)(answer[3] & 0xF));
        Assert.Equal(query[0], answer[0]);
    }

    [Fact]
    public async Task Drill_and_zone_transfers_work()
    {
        var drill = await Run(RequireTool("drill"), ["-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "@127.0.0.1", "example.test", "MX"]);
        Assert.Contains("mail.example.test.", drill.Out);

        var axfr = await Dig(Port, "example.test", "AXFR", "+nocmd", "+nostats");
        var lines = AnswerLines(axfr.Out);
        Assert.Equal(2, lines.Count(l => l.Contains(" SOA ")));
        Assert.Contains("www.example.test. IN A 192.0.2.1", lines);
        Assert.StartsWith("example.test.", axfr.Out.Split('\n').First(l => l.Length > 0 && !l.StartsWith(';')));

        uint serial = _dns.Zones.Table.Get(DnsName.Parse("example.test."))!.Snapshot!.Serial;
        var ixfr = await Dig(Port, "example.test", $"IXFR={serial}", "+nocmd", "+nostats");
        Assert.Single(AnswerLines(ixfr.Out));
    }

    [Fact]
    public async Task Mutated_packets_never_stop_the_server()
    {
        var rng = new Random(42);
        var seed = Dt.Dns.Lookup.DnsStubClient.NewQuery(DnsName.Parse("www.example.test."), RrType.A).ToWire();
        using var udp = new System.Net.Sockets.UdpClient();
        udp.Connect(Local(Port));
        for (int i = 0; i < 3000; i++)
        {
            var p = (byte[])seed.Clone();
            for (int k = rng.Next(1, 5); k > 0; k--) p[rng.Next(p.Length)] = (byte)rng.Next(256);
            p[2] &= 0x7F; // keep QR clear so the server answers rather than drops
            await udp.SendAsync(rng.Next(5) == 0 ? p[..rng.Next(p.Length)] : p, Ct);
        }
        // Still answering, over UDP and TCP.
        await Eventually.Until(async () => (await Query(Port, "www.example.test.", RrType.A)).Answers.Count == 1, "the server still answers", TimeSpan.FromSeconds(15), Polling.Dns);
        Assert.Single((await Query(Port, "www.example.test.", RrType.A, tcp: true)).Answers);
    }

    private async Task<byte[]> RawUdp(byte[] packet)
    {
        using var udp = new System.Net.Sockets.UdpClient();
        udp.Connect(Local(Port));
        await udp.SendAsync(packet, Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(2000);
        return (await udp.ReceiveAsync(cts.Token)).Buffer;
    }
}
