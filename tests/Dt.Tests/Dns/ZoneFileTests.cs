using Dt.Dns.Text;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>The RFC 1035 master-file reader, the record mapping to Dt objects, and the zone rules.</summary>
public sealed class ZoneFileTests
{
    private static readonly DnsName Origin = DnsName.Parse("example.test.");

    [Fact]
    public void A_master_file_with_every_feature_parses()
    {
        var records = ZoneFile.Parse("""
            $TTL 1h ; default
            @   IN  SOA ns1 hostmaster (
                        5       ; serial
                        3600 600
                        2w 300 )
                NS  ns1
            ns1 30 IN A 192.0.2.1
            $ORIGIN sub.example.test.
            host IN 60 AAAA 2001:DB8:0:0::1
                 TXT "semi;colon" "quote\"d" unquoted "\065\066" ""
            @    MX 5 mail.example.test.
            $ORIGIN example.test.
            odd  TYPE999 \# 3 ( 01 02
                                03 )
            caa  CAA 0 issue "ca.example; account=1"
            """, Origin);
        string[] expected =
        [
            "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 5 3600 600 1209600 300",
            "example.test. 3600 IN NS ns1.example.test.",
            "ns1.example.test. 30 IN A 192.0.2.1",
            "host.sub.example.test. 60 IN AAAA 2001:db8::1",
            "host.sub.example.test. 3600 IN TXT \"semi;colon\" \"quote\\\"d\" \"unquoted\" \"AB\" \"\"",
            "sub.example.test. 3600 IN MX 5 mail.example.test.",
            @"odd.example.test. 3600 IN TYPE999 \# 3 010203",
            "caa.example.test. 3600 IN CAA 0 issue \"ca.example; account=1\"",
        ];
        Assert.Equal(expected, records.Select(r => r.ToString()));
    }

    [Fact]
    public void Without_ttl_a_record_takes_the_previous_one()
    {
        var records = ZoneFile.Parse("""
            @ IN SOA ns1 h 1 2 3 4 5
            a 100 IN A 192.0.2.1
            b IN A 192.0.2.2
            """, Origin);
        Assert.Equal([5u, 100u, 100u], records.Select(r => r.Ttl));
    }

    [Theory]
    [InlineData("@ 300 IN A 1.2.3", "line 1")]
    [InlineData("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n www IN A 999.1.1.1", "line 3")]
    [InlineData("$INCLUDE other.zone", "$INCLUDE")]
    [InlineData("$TTL 300\nwww IN A 192.0.2.1 (", "not closed")]
    [InlineData("$TTL 300\nwww IN TXT \"open", "not closed")]
    [InlineData("$TTL 300\nwww CH A 192.0.2.1", "only IN")]
    [InlineData("$TTL 300\nwww IN HINFO \"pc\" \"os\"", "generic form")]
    [InlineData("www IN A 192.0.2.1", "no TTL")]
    public void Bad_files_are_refused_with_the_line(string text, string expected)
    {
        var e = Assert.ThrowsAny<FormatException>(() => ZoneFile.Parse(text, Origin));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Records_map_to_canonical_objects_and_back()
    {
        var rr = ZoneText.ParseRecord("WWW.Example.Test. 300 IN MX 10 MAIL.example.test.", DnsName.Root);
        var json = DnsObjects.ToObject(Origin, rr);
        Assert.Equal("""{"dns":"rr","zone":"example.test.","name":"www.example.test.","type":"MX","ttl":300,"data":"10 mail.example.test."}""", json.GetRawText());
        var back = Assert.IsType<RecordObject>(DnsObjects.TryParse(json, out _));
        Assert.Equal(rr, back.Record);
        Assert.Equal("www.example.test.\tMX\t300\t10 mail.example.test.", back.Line);

        var soa = DnsObjects.ToObject(Origin, ZoneText.ParseRecord("@ 60 IN SOA ns1 h 2024 1 2 3 4", Origin));
        Assert.Contains("\"data\":\"ns1.example.test. h.example.test. 0 1 2 3 4\"", soa.GetRawText());

        Assert.Null(DnsObjects.TryParse(TestCluster.Json("""{"other":"data"}"""), out var invalid));
        Assert.Null(invalid);
        Assert.Null(DnsObjects.TryParse(TestCluster.Json("""{"dns":"rr","zone":"example.test.","name":"www.other.","type":"A","ttl":1,"data":"192.0.2.1"}"""), out invalid));
        Assert.Contains("not in zone", invalid);
    }

    [Fact]
    public void Zone_rules_catch_what_secondaries_would_refuse()
    {
        var ok = ZoneFile.Parse(SampleZone, Origin);
        Assert.Empty(ZoneRules.Validate(Origin, ok));
        var noNs = ok.Where(r => !(r.Type == RrType.NS && r.Name.Equals(Origin))).ToList();
        Assert.Contains(ZoneRules.Validate(Origin, noNs), e => e.Contains("no NS"));
        var cnameClash = ok.Append(ZoneText.ParseRecord("www 300 IN CNAME mail", Origin)).ToList();
        Assert.Contains(ZoneRules.Validate(Origin, cnameClash), e => e.Contains("CNAME and other data"));
        var outside = ok.Append(ZoneText.ParseRecord("www.other. 300 IN A 192.0.2.1", Origin)).ToList();
        Assert.Contains(ZoneRules.Validate(Origin, outside), e => e.Contains("outside the zone"));
    }

    [Fact]
    public async Task The_editor_refuses_bad_zones_and_changes_on_non_masters()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var other = await cluster.Start(peers: [master]);
        await using var dns = await StartDns(master);
        var bad = await Assert.ThrowsAsync<DtException>(() => dns.Editor.ImportZoneAsync(Zone, "$TTL 60\n@ IN SOA ns1 h 1 2 3 4 5\n", Ct));
        Assert.Equal(DtErrorCodes.InvalidArgument, bad.Code);
        Assert.Contains("no NS", bad.Message);

        var r = await dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
        Assert.Equal(2024010101u, r.Serial);
        var again = await dns.Editor.ImportZoneAsync(Zone, SampleZone, Ct);
        Assert.False(again.Changed);
        Assert.Equal(r.Serial, again.Serial);
        var added = await dns.Editor.AddRecordAsync(Zone, "x 60 IN A 192.0.2.8", Ct);
        Assert.Equal(r.Serial + 1, added.Serial);
        Assert.Equal(1, added.Added);
        var zones = await dns.Editor.ListZonesAsync(Ct);
        Assert.Equal("example.test.", Assert.Single(zones).Zone);

        // A remote-style editor (listing the table) on a node that is not a master is refused by the engine.
        await TestCluster.WaitConverged([master, other], "dns");
        var remote = new Dt.Dns.Zones.DnsZoneEditor(other, "dns");
        Assert.Equal(added.Serial, (await remote.ListZonesAsync(Ct)).Single().Serial);
        var refused = await Assert.ThrowsAsync<DtException>(() => remote.AddRecordAsync(Zone, "y 60 IN A 192.0.2.9", Ct));
        Assert.Equal(DtErrorCodes.NotMaster, refused.Code);
        Assert.True(await dns.Editor.DeleteZoneAsync(Zone, Ct));
        await Eventually.Until(() => Task.FromResult(dns.Zones.Table.Count == 0), "the zone is gone", TimeSpan.FromSeconds(15), Polling.Dns);
    }
}
