using System.Net;
using Dt.Dns;
using Dt.Dns.Lookup;
using Dt.Dns.Server;
using Dt.Dns.Wire;
using Dt.Tests.Engine;
using Dt.Tests.Silo;
using Microsoft.Extensions.Logging;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// Transfers that Dns:TransferAllow ties to a TSIG key: refused unsigned (REFUSED) or wrongly signed (NOTAUTH with the
/// TSIG error), each refusal logged but at most 10 lines a minute; served, every message signed, with the key; signed
/// queries answered signed. Raw requests over loopback TCP/UDP (the BIND and Knot secondaries are in DnsSecondaryTests).
/// </summary>
public sealed class DnsTransferTsigTests : IAsyncLifetime
{
    private static readonly byte[] Secret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
    private static readonly DnsName KeyName = DnsName.Parse("xfr-key.");
    private readonly CapturingLoggerProvider _log = new();
    private ILoggerFactory _loggers = null!;
    private TestCluster _cluster = null!;
    private DnsService _dns = null!;

    public async ValueTask InitializeAsync()
    {
        _loggers = LoggerFactory.Create(b => b.AddProvider(_log).AddProvider(new TestOutputLoggerProvider()));
        _cluster = new TestCluster();
        var master = await _cluster.Start(master: true);
        var options = DnsOptions.ForTests();
        options.TsigKeys = [new DnsTsigKey { Name = "xfr-key", Secret = Convert.ToBase64String(Secret) }];
        options.TransferAllow = ["127.0.0.1 key xfr-key"];
        _dns = new DnsService(master, options, _loggers);
        await _dns.StartAsync(Ct);
        await _dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _dns.DisposeAsync();
        await _cluster.DisposeAsync();
        _loggers.Dispose();
    }

    private IPEndPoint Server => Local(_dns.Port);

    private static byte[] Axfr(ushort id = 77)
    {
        var q = new DnsMessage { Id = id };
        q.Questions.Add(new DnsQuestion(DnsName.Parse("example.test."), RrType.AXFR));
        return q.ToWire();
    }

    private List<string> Refusals() => _log.Entries.Where(e => e.Message.Contains("Zone transfer of")).Select(e => e.Message).ToList();

    [Fact]
    public async Task An_unsigned_transfer_is_refused_and_logged()
    {
        var r = DnsMessage.Parse((await DnsStubClient.ExchangeTcpAsync(Server, Axfr(), TimeSpan.FromSeconds(5), 1, Ct))[0]);
        Assert.Equal(DnsRcode.Refused, r.Rcode);
        Assert.Empty(r.Answers);
        Assert.Contains(Refusals(), m => m.Contains("unsigned; Dns:TransferAllow requires TSIG key xfr-key"));
    }

    [Fact]
    public async Task A_transfer_signed_with_a_wrong_secret_or_an_unknown_key_gets_NOTAUTH_with_the_TSIG_error()
    {
        var wrong = Tsig.SignRequest(Axfr(), KeyName, new byte[32], DateTimeOffset.UtcNow);
        var r = DnsMessage.Parse((await DnsStubClient.ExchangeTcpAsync(Server, wrong, TimeSpan.FromSeconds(5), 1, Ct))[0]);
        Assert.Equal(DnsRcode.NotAuth, r.Rcode);
        Assert.Equal((ushort)DnsRcode.BadSig, Assert.IsType<TsigData>(r.Tsig!.Data).Error);

        var unknown = Tsig.SignRequest(Axfr(), DnsName.Parse("other-key."), Secret, DateTimeOffset.UtcNow);
        r = DnsMessage.Parse((await DnsStubClient.ExchangeTcpAsync(Server, unknown, TimeSpan.FromSeconds(5), 1, Ct))[0]);
        Assert.Equal(DnsRcode.NotAuth, r.Rcode);
        Assert.Equal((ushort)DnsRcode.BadKey, Assert.IsType<TsigData>(r.Tsig!.Data).Error);

        var old = Tsig.SignRequest(Axfr(), KeyName, Secret, DateTimeOffset.UtcNow.AddHours(-1));
        r = DnsMessage.Parse((await DnsStubClient.ExchangeTcpAsync(Server, old, TimeSpan.FromSeconds(5), 1, Ct))[0]);
        Assert.Equal(DnsRcode.NotAuth, r.Rcode);
        Assert.Equal((ushort)DnsRcode.BadTime, Assert.IsType<TsigData>(r.Tsig!.Data).Error);
        Assert.Equal(3, Refusals().Count(m => m.Contains("TSIG BAD")));
    }

    [Fact]
    public async Task A_signed_transfer_is_served_with_every_message_signed()
    {
        var signed = Tsig.SignRequest(Axfr(), KeyName, Secret, DateTimeOffset.UtcNow);
        var messages = await DnsStubClient.ExchangeTcpAsync(Server, signed, TimeSpan.FromSeconds(5), 0, Ct);
        var parsed = messages.Select(m => DnsMessage.Parse(m)).ToList();
        Assert.All(parsed, m => Assert.Equal(DnsRcode.NoError, m.Rcode));
        Assert.All(parsed, m => Assert.Equal(KeyName, m.Tsig?.Name));
        var records = parsed.SelectMany(m => m.Answers).ToList();
        Assert.Equal(RrType.SOA, records[0].Type);
        Assert.Equal(RrType.SOA, records[^1].Type);
        Assert.Contains(records, r => r.Type == RrType.A && r.Data.ToText() == "192.0.2.1");
        Assert.Empty(Refusals());
    }

    [Fact]
    public async Task A_signed_SOA_query_is_answered_signed()
    {
        var q = DnsStubClient.NewQuery(DnsName.Parse("example.test."), RrType.SOA, false);
        var signed = Tsig.SignRequest(q.ToWire(), KeyName, Secret, DateTimeOffset.UtcNow);
        using var udp = new System.Net.Sockets.UdpClient();
        udp.Connect(Server);
        await udp.SendAsync(signed, Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(2000);
        var r = DnsMessage.Parse((await udp.ReceiveAsync(cts.Token)).Buffer);
        Assert.Equal(DnsRcode.NoError, r.Rcode);
        Assert.Single(r.Answers, a => a.Type == RrType.SOA);
        var t = Assert.IsType<TsigData>(r.Tsig!.Data);
        Assert.Equal(0, t.Error);
        Assert.Equal(32, t.Mac.Length);
    }

    [Fact]
    public async Task A_flood_of_refused_transfers_logs_at_most_ten_lines_a_minute()
    {
        for (int i = 0; i < 40; i++)
            Assert.Equal(DnsRcode.Refused, DnsMessage.Parse((await DnsStubClient.ExchangeTcpAsync(Server, Axfr((ushort)i), TimeSpan.FromSeconds(5), 1, Ct))[0]).Rcode);
        Assert.InRange(Refusals().Count, 1, 10);
    }

    [Fact]
    public void A_transfer_rule_naming_an_unknown_key_or_malformed_is_a_configuration_error()
    {
        var o = DnsOptions.ForTests();
        o.TransferAllow = ["127.0.0.1 key nokey", "10.0.0.0/8 key", "key"];
        o.Notify = ["127.0.0.1:5300 key nokey"];
        var errors = o.Validate();
        Assert.Contains(errors, e => e.Contains("Dns:TransferAllow:0") && e.Contains("'nokey.'") && e.Contains("not in Dns:TsigKeys"));
        Assert.Contains(errors, e => e.Contains("Dns:TransferAllow:1") && e.Contains("optionally followed by 'key NAME'"));
        Assert.Contains(errors, e => e.Contains("Dns:TransferAllow:2"));
        Assert.Contains(errors, e => e.Contains("Dns:Notify:0") && e.Contains("not in Dns:TsigKeys"));
    }
}
