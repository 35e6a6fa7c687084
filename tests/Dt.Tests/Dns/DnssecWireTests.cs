using System.Security.Cryptography;
using Dt.Dns;
using Dt.Dns.Text;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Dt.Tests.Dns;

/// <summary>The DNSSEC pieces without a network: key files, key tags, DS digests, RRSIG data, NSEC bitmaps, the signer.</summary>
public sealed class DnssecWireTests
{
    /// <summary>A KSK made by BIND 9.18's <c>dnssec-keygen -a ECDSAP256SHA256 -f KSK example.test</c> (a test key).</summary>
    private const string BindKey = """
        ; This is a key-signing key, keyid 20950, for example.test.
        ; Created: 20261202171340 (Wed Dec  2 17:13:40 2026)
        ; Publish: 20261202171340 (Wed Dec  2 17:13:40 2026)
        ; Activate: 20261202171340 (Wed Dec  2 17:13:40 2026)
        example.test. IN DNSKEY 257 3 13 6FSbhpiGsA5oq3qjJ5FNrr+zagG0uXzpNfNXh5HTtLhJDVWPMLid3gBW y7se+E/4vVsrZM3VmGCV0fYk+ZV8sQ==
        """;

    private const string BindPrivate = """
        Private-key-format: v1.3
        Algorithm: 13 (ECDSAP256SHA256)
        PrivateKey: cc0gh3MpZ5twzpFvFrsmAvFWRfwHHKW+oQcTsja7aXA=
        Created: 20261202171340
        Publish: 20261202171340
        Activate: 20261202171340
        """;

    private static readonly DnsName Apex = DnsName.Parse("example.test.");

    [Fact]
    public void A_bind_key_reads_with_the_key_tag_and_DS_that_bind_computes()
    {
        using var key = DnssecKey.Parse(BindKey, BindPrivate);
        Assert.Equal(20950, key.Tag); // the keyid in dnssec-keygen's file name
        Assert.True(key.IsKsk);
        Assert.Equal(Apex, key.Zone);
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 17, 13, 40, TimeSpan.Zero), key.Activate);
        // dnssec-dsfromkey -2 Kexample.test.+013+20950.key
        Assert.Equal("20950 13 2 094088C95283D1AEAA0A641B1BCA6ADB81298A743618127E52D19DD1CAD1A201", key.Ds().ToText());
    }

    [Fact]
    public void A_key_file_that_does_not_match_or_is_another_algorithm_is_refused()
    {
        var other = DnssecKey.Generate(Apex, ksk: true, DateTimeOffset.UtcNow);
        var e = Assert.Throws<FormatException>(() => DnssecKey.Parse(BindKey, other.PrivateText));
        Assert.Contains("does not match", e.Message);
        Assert.Throws<FormatException>(() => DnssecKey.Parse(BindKey, BindPrivate.Replace("13 (ECDSAP256SHA256)", "8 (RSASHA256)")));
        other.Key.Dispose();
    }

    [Fact]
    public void A_generated_key_reads_back_from_its_bind_format_files()
    {
        var (key, pub, priv) = DnssecKey.Generate(Apex, ksk: false, DateTimeOffset.UtcNow);
        using var again = DnssecKey.Parse(pub, priv);
        Assert.Equal(key.Tag, again.Tag);
        Assert.False(again.IsKsk);
        Assert.Equal(key.Dnskey.ToText(), again.Dnskey.ToText());
        key.Dispose();
    }

    [Fact]
    public void The_RRSIG_of_a_known_RRset_verifies_with_dotnet_ECDsa_over_the_RFC_4034_signed_data()
    {
        using var key = DnssecKey.Parse(BindKey, BindPrivate);
        var owner = DnsName.Parse("WWW.Example.Test.");
        RData[] rdata = [new AData([192, 0, 2, 2]), new AData([192, 0, 2, 1])];
        var template = new RrsigData(RrType.A, 13, 3, 300, 1_900_000_000, 1_800_000_000, key.Tag, Apex, []);
        var sorted = rdata.OrderBy(d => d.CanonicalWire, ZoneSnapshot.ByteComparer.Instance).ToList();
        var data = ZoneSigner.SignedData(template, owner, RrType.A, 300, sorted);
        // RFC 4034 §3.1.8.1 by hand: RRSIG RDATA without signature, then each RR (lower-case owner, class IN, original TTL) in RDATA order.
        byte[] ownerWire = [3, (byte)'w', (byte)'w', (byte)'w', 7, .. "example"u8, 4, .. "test"u8, 0];
        byte[] rr(byte last) => [.. ownerWire, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, last];
        byte[] expected =
        [
            0, 1, 13, 3, 0, 0, 1, 44, .. BigEndian(1_900_000_000), .. BigEndian(1_800_000_000), (byte)(key.Tag >> 8), (byte)key.Tag,
            7, .. "example"u8, 4, .. "test"u8, 0, .. rr(1), .. rr(2),
        ];
        Assert.Equal(expected, data);

        var sig = new RrsigData(RrType.A, 13, 3, 300, 1_900_000_000, 1_800_000_000, key.Tag, Apex, key.Sign(data));
        Assert.Equal(64, sig.Signature.Length);
        using var ecdsa = ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = key.Dnskey.PublicKey[..32], Y = key.Dnskey.PublicKey[32..] },
        });
        Assert.True(ecdsa.VerifyData(data, sig.Signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        Assert.True(ZoneSigner.Verify(sig, key.Dnskey, owner, rdata));
        Assert.False(ZoneSigner.Verify(sig, key.Dnskey, owner, [new AData([192, 0, 2, 1])]));
    }

    private static byte[] BigEndian(uint v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];

    [Theory]
    [InlineData(RrType.DNSKEY, "256 3 13 6FSbhpiGsA5oq3qjJ5FNrr+zagG0uXzpNfNXh5HTtLhJDVWPMLid3gBWy7se+E/4vVsrZM3VmGCV0fYk+ZV8sQ==")]
    [InlineData(RrType.DS, "20950 13 2 094088C95283D1AEAA0A641B1BCA6ADB81298A743618127E52D19DD1CAD1A201")]
    [InlineData(RrType.RRSIG, "A 13 3 300 20300101000000 20261201000000 20950 example.test. AAECAw==")]
    [InlineData(RrType.NSEC, "www.example.test. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY CAA TYPE65280")]
    public void DNSSEC_records_go_from_text_to_wire_and_back(RrType type, string text)
    {
        var data = ZoneText.ParseRData(type, ZoneText.TokenizeLine(text), Apex);
        Assert.Equal(text, data.ToText());
        var w = new DnsWriter();
        w.Reset();
        data.Write(w, compress: true);
        var r = new DnsReader(w.Written);
        var back = RData.Read(type, ref r, w.Length);
        Assert.Equal(data, back);
        Assert.Equal(text, back.ToText());
    }

    [Fact]
    public void An_NSEC_type_bitmap_has_the_windows_of_RFC_4034()
    {
        // RFC 4034 §4.3's example: A MX RRSIG NSEC TYPE1234.
        var nsec = new NsecData(DnsName.Parse("host.example.com."), [RrType.A, RrType.MX, RrType.RRSIG, RrType.NSEC, (RrType)1234]);
        var w = new DnsWriter();
        w.Reset();
        nsec.Write(w, compress: true);
        var bitmap = w.Written[(nsec.Next.WireLength)..].ToArray();
        Assert.Equal(Convert.FromHexString("0006400100000003" + "041B" + "000000000000000000000000000000000000000000000000000020"), bitmap);
    }

    [Fact]
    public void The_signer_builds_an_NSEC_chain_signs_every_authoritative_RRset_and_keeps_valid_signatures()
    {
        using var dir = new TempDir();
        var options = new DnsOptions { SignedZones = ["example.test"], KeyDirectory = dir.Path };
        var signer = new ZoneSigner(options, new DnssecKeyDirectory(dir.Path, generate: true, NullLogger.Instance), TimeProvider.System);
        var records = ZoneFile.Parse(DnsTestKit.SampleZone, Apex).Select(DnsObjects.Normalize).ToList();
        var signed = signer.Sign(Apex, records, [], 7);
        var keys = signer.Keys(Apex);
        Assert.Equal(2, keys.Count);
        Assert.Equal(2, Directory.GetFiles(dir.Path, "*.private").Length);

        var snapshot = ZoneSnapshot.Build(Apex, 7, "x", signed);
        Assert.True(snapshot.IsSigned);
        // Every RRSIG verifies with its key over its RRset (the SOA with serial 7).
        int verified = 0;
        foreach (var rr in signed.Where(r => r.Data is RrsigData))
        {
            var sig = (RrsigData)rr.Data;
            var key = keys.Single(k => k.Tag == sig.KeyTag);
            Assert.Equal(sig.TypeCovered == RrType.DNSKEY, key.IsKsk);
            var set = snapshot.Find(rr.Name)!.Get(sig.TypeCovered)!;
            Assert.True(ZoneSigner.Verify(sig, key.Dnskey, rr.Name, set.Records.Select(r => r.Data)), $"{rr.Name} {sig.TypeCovered}");
            verified++;
        }
        // Glue and the delegation's NS are not signed; the NSEC at the cut lists NS only (with RRSIG, NSEC).
        Assert.DoesNotContain(signed, r => r.Data is RrsigData s && (r.Name.Key == "ns.sub.example.test." || s.TypeCovered == RrType.NS && r.Name.Key == "sub.example.test."));
        var cutNsec = (NsecData)snapshot.Find("sub.example.test.")!.Get(RrType.NSEC)!.Records[0].Data;
        Assert.Equal([RrType.NS, RrType.RRSIG, RrType.NSEC], cutNsec.Types);
        Assert.Null(snapshot.Find("ns.sub.example.test.")!.Get(RrType.NSEC));
        // The chain visits every authoritative name once in canonical order and closes at the apex.
        var chain = new List<string>();
        var at = Apex;
        do
        {
            chain.Add(at.Key);
            at = ((NsecData)snapshot.Find(at)!.Get(RrType.NSEC)!.Records[0].Data).Next;
        }
        while (!at.Equals(Apex) && chain.Count < 100);
        Assert.Equal(signed.Count(r => r.Type == RrType.NSEC), chain.Count);
        Assert.True(verified > chain.Count);

        // Signing again for a new serial keeps every signature but the SOA's; a changed RRset gets a new one.
        var again = signer.Sign(Apex, signed, signed, 8);
        var before = signed.Where(r => r.Data is RrsigData).Select(r => r.Data.ToText()).ToHashSet();
        var changed = again.Where(r => r.Data is RrsigData && !before.Contains(r.Data.ToText())).ToList();
        Assert.Equal([RrType.SOA], changed.Select(r => ((RrsigData)r.Data).TypeCovered));
        // A commit's second step re-signs the SOA alone, for the new serial.
        var resigned = signer.ResignSoa(Apex, signed, 8);
        Assert.Equal([RrType.SOA], resigned.Where(r => r.Data is RrsigData && !before.Contains(r.Data.ToText())).Select(r => ((RrsigData)r.Data).TypeCovered));
        var soaSig = (RrsigData)resigned.Single(r => r.Data is RrsigData { TypeCovered: RrType.SOA }).Data;
        var soa = (SoaData)signed.Single(r => r.Type == RrType.SOA).Data;
        Assert.True(ZoneSigner.Verify(soaSig, keys.Single(k => !k.IsKsk).Dnskey, Apex, [soa.WithSerial(8)]));
        Assert.False(ZoneSigner.Verify(soaSig, keys.Single(k => !k.IsKsk).Dnskey, Apex, [soa.WithSerial(7)]));
        var edited = signed.Where(r => !(r.Name.Key == "www.example.test." && r.Type == RrType.A)).Append(DnsObjects.Normalize(ZoneText.ParseRecord("www 300 A 192.0.2.9", Apex))).ToList();
        var third = signer.Sign(Apex, edited, again, 9);
        var kept = again.Where(r => r.Data is RrsigData).Select(r => r.Data.ToText()).ToHashSet();
        Assert.Equal([("www.example.test.", RrType.A), ("example.test.", RrType.SOA)],
            third.Where(r => r.Data is RrsigData && !kept.Contains(r.Data.ToText())).Select(r => (r.Name.Key, ((RrsigData)r.Data).TypeCovered)).OrderByDescending(x => x.Key));
    }

    [Fact]
    public void DNSSEC_settings_are_validated_with_their_names()
    {
        var errors = new DnsOptions { SignedZones = ["example.test", "Example.Test.", "bad..name"], SignatureRefresh = TimeSpan.FromDays(20) }.Validate();
        Assert.Contains(errors, e => e.Contains("Dns:SignedZones:1") && e.Contains("twice"));
        Assert.Contains(errors, e => e.Contains("Dns:SignedZones:2") && e.Contains("not a zone name"));
        Assert.Contains(errors, e => e.Contains("Dns:KeyDirectory must be set"));
        Assert.Contains(errors, e => e.Contains("Dns:SignatureRefresh"));
        Assert.Contains(new DnsOptions { KeyDirectory = "/nonexistent/keys" }.Validate(), e => e.Contains("Dns:KeyDirectory '/nonexistent/keys' is not a directory"));
        Assert.Contains(new DnsOptions { SigningInterval = TimeSpan.FromDays(3) }.Validate(), e => e.Contains("Dns:SigningInterval"));
        Assert.Empty(new DnsOptions().Validate());
    }
}
