using System.Buffers.Binary;
using System.Net;
using Dt.Dns;
using Dt.Dns.Server;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Dt.Tests.Dns;

/// <summary>The wire format on its own: names, compression and its loop guard, malformed input, EDNS, TSIG.</summary>
public sealed class DnsWireTests
{
    private static DnsName N(string s) => DnsName.Parse(s);

    [Fact]
    public void Names_parse_print_and_compare_case_insensitively()
    {
        var n = N("WWW.Example.test.");
        Assert.Equal("WWW.Example.test.", n.ToString());
        Assert.Equal("www.example.test.", n.Key);
        Assert.Equal(N("www.example.TEST."), n);
        Assert.Equal(3, n.LabelCount);
        Assert.Equal(18, n.WireLength);
        Assert.True(n.IsSubdomainOf(N("example.test.")));
        Assert.False(N("badexample.test.").IsSubdomainOf(N("example.test.")));
        Assert.Equal("www.example.test.", DnsName.Parse("www", N("example.test.")).ToString());
        Assert.Equal(@"a\.b.c\032d.\255.", N(@"a\.b.c\032d.\255.").ToString());
        Assert.Equal(11, N(@"a\.b.c\032d.\255.").WireLength);
        Assert.Equal(".", DnsName.Root.ToString());
        Assert.False(DnsName.TryParse(new string('a', 64) + ".", null, out _, out _));
        Assert.False(DnsName.TryParse(string.Join('.', Enumerable.Repeat(new string('a', 63), 4)) + ".", null, out _, out _));
        Assert.False(DnsName.TryParse("a..b.", null, out _, out _));
        Assert.True(N("a.b.").CompareTo(N("b.")) > 0);
        Assert.True(N("z.a.").CompareTo(N("a.b.")) < 0);
    }

    [Fact]
    public void Messages_round_trip_with_compression()
    {
        var m = new DnsMessage { Id = 0x1234 };
        m.Opcode = DnsOpcode.Query;
        m.SetFlag(DnsFlags.QR, true);
        m.SetFlag(DnsFlags.AA, true);
        m.Questions.Add(new DnsQuestion(N("www.example.test."), RrType.A));
        m.Answers.Add(new DnsRecord(N("www.example.test."), 300, new AData(IPAddress.Parse("192.0.2.1"))));
        m.Answers.Add(new DnsRecord(N("example.test."), 300, new MxData(10, N("mail.example.test."))));
        m.Answers.Add(new DnsRecord(N("example.test."), 300, new SoaData(N("ns1.example.test."), N("h.example.test."), 7, 1, 2, 3, 4)));
        m.Answers.Add(new DnsRecord(N("s.example.test."), 300, new SrvData(1, 2, 3, N("t.example.test."))));
        m.Answers.Add(new DnsRecord(N("example.test."), 300, new TxtData("a", "b c")));
        m.Answers.Add(new DnsRecord(N("example.test."), 300, new CaaData(128, "issue", "ca.test"u8.ToArray())));
        m.Answers.Add(new DnsRecord(N("x.example.test."), 300, new UnknownData((RrType)65280, [1, 2, 3])));
        m.Answers.Add(new DnsRecord(N("x.example.test."), 300, new AaaaData(IPAddress.Parse("2001:db8::1"))));
        m.Edns = new EdnsInfo(1232, 0, 0, true, [new EdnsOption(10, [1, 2, 3, 4, 5, 6, 7, 8])]);
        var wire = m.ToWire();
        var back = DnsMessage.Parse(wire);
        Assert.Equal(m.Id, back.Id);
        Assert.Equal(m.Flags, back.Flags);
        Assert.Equal(m.Answers.Select(a => a.ToString()), back.Answers.Select(a => a.ToString()));
        Assert.Equal(1232, back.Edns!.UdpPayloadSize);
        Assert.True(back.Edns.DnssecOk);
        Assert.Single(back.Edns.Options);
        // Compression: "example.test" is written once in full; later names point at it.
        int uncompressed = 12 + m.Questions[0].Name.WireLength + 4 + m.Answers.Sum(a => a.Name.WireLength + 10 + a.Data.CanonicalWire.Length) + 11 + 12;
        Assert.True(wire.Length < uncompressed - 60, $"{wire.Length} bytes, {uncompressed} uncompressed");
        Assert.Equal(CountOccurrences(wire, "\u0007example"u8.ToArray()), 1 + 1); // once, plus once inside the uncompressed SRV target
    }

    private static int CountOccurrences(byte[] haystack, byte[] needle)
    {
        int n = 0;
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) n++;
        return n;
    }

    [Fact]
    public void The_opcode_lives_in_the_flags_word()
    {
        // Setting flags after the opcode must not turn a NOTIFY into a QUERY.
        ushort f = DnsFlags.WithOpcode(DnsFlags.AA, DnsOpcode.Notify);
        Assert.Equal(DnsOpcode.Notify, DnsFlags.Opcode(f));
        Assert.Equal(DnsOpcode.Notify, DnsFlags.Opcode(DnsFlags.WithRcode(f, DnsRcode.Refused)));
        var m = new DnsMessage();
        m.Opcode = DnsOpcode.Notify;
        m.SetFlag(DnsFlags.AA, true);
        m.Rcode = DnsRcode.NoError;
        Assert.Equal(DnsOpcode.Notify, DnsMessage.Parse(m.ToWire()).Opcode);

        var zone = ZoneSnapshot.Build(N("example.test."), 42, "d", [Soa()]);
        var w = new DnsWriter();
        Notifier.Build(w, 7, zone);
        var notify = DnsMessage.Parse(w.Written);
        Assert.Equal(DnsOpcode.Notify, notify.Opcode);
        Assert.True(notify.Flag(DnsFlags.AA));
        Assert.False(notify.IsResponse);
        Assert.Equal(42u, ((SoaData)notify.Answers[0].Data).Serial);
    }

    private static DnsRecord Soa() => new(N("example.test."), 300, new SoaData(N("ns1.example.test."), N("h.example.test."), 0, 1, 2, 3, 4));

    [Fact]
    public void Compression_loops_and_forward_pointers_are_refused()
    {
        // Header with one question whose name is a pointer to itself.
        byte[] self = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(self));
        // Two labels pointing at each other: a -> b -> a.
        byte[] pair = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 0xC0, 17, 0, 1, 0, 1, 1, (byte)'b', 0xC0, 12];
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(pair));
        // A pointer forward, past the end, and a pointer into its own name.
        byte[] forward = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 16, 0, 1, 0, 1, 0];
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(forward));
        byte[] past = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0, 1, 0, 1];
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(past));
        byte[] inside = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 0xC0, 12, 0, 1, 0, 1];
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(inside));
        // Reserved label types 01 and 10.
        byte[] ext = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0, 0, 1, 0, 1];
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(ext));
        // A valid backward pointer works.
        byte[] ok = [0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 0, 0, 1, 0, 1, 1, (byte)'b', 0xC0, 12, 0, 1, 0, 1];
        Assert.Equal("b.a.", DnsMessage.Parse(ok).Questions[1].Name.ToString());
    }

    [Fact]
    public void Truncated_and_inconsistent_packets_are_refused()
    {
        var m = Dt.Dns.Lookup.DnsStubClient.NewQuery(N("www.example.test."), RrType.A);
        m.Answers.Add(new DnsRecord(N("www.example.test."), 300, new AData(IPAddress.Parse("192.0.2.1"))));
        var wire = m.ToWire();
        DnsMessage.Parse(wire);
        for (int cut = 0; cut < wire.Length; cut++)
            Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(wire.AsSpan(0, cut)));
        // Trailing garbage, counts larger than the data, an A record of 5 bytes, a second OPT record.
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse([.. wire, 0]));
        var counts = (byte[])wire.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(counts.AsSpan(6), 60000);
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(counts));
        var a5 = new DnsMessage();
        a5.Answers.Add(new DnsRecord(N("x."), RrType.A, RrClass.IN, 1, new UnknownData(RrType.A, [1, 2, 3, 4, 5])));
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(a5.ToWire()));
        var twoOpt = m.ToWire().Concat(new byte[] { 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0 }).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(twoOpt.AsSpan(10), 2);
        Assert.Throws<DnsFormatException>(() => DnsMessage.Parse(twoOpt));
    }

    [Fact]
    public void Random_and_mutated_packets_never_crash_the_parser_or_the_server()
    {
        var store = new ZoneStore(new NoGrains(), DnsOptions.ForTests(), NullLogger.Instance);
        var engine = new QueryEngine(store, DnsOptions.ForTests());
        var w = new DnsWriter();
        var rng = new Random(1234);
        var seeds = new List<byte[]>
        {
            Dt.Dns.Lookup.DnsStubClient.NewQuery(N("www.example.test."), RrType.A).ToWire(),
            Dt.Dns.Lookup.DnsStubClient.NewQuery(N("example.test."), RrType.IXFR).ToWire(),
        };
        var full = new DnsMessage { Id = 9 };
        full.Questions.Add(new DnsQuestion(N("a.example.test."), RrType.MX));
        full.Answers.Add(new DnsRecord(N("a.example.test."), 1, new MxData(1, N("b.example.test."))));
        full.Authority.Add(Soa());
        seeds.Add(full.ToWire());
        int parsed = 0;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] packet;
            if (i % 4 == 0)
            {
                packet = new byte[rng.Next(0, 80)];
                rng.NextBytes(packet);
            }
            else
            {
                packet = (byte[])seeds[i % seeds.Count].Clone();
                int flips = rng.Next(1, 6);
                for (int k = 0; k < flips; k++) packet[rng.Next(packet.Length)] = (byte)rng.Next(256);
                if (rng.Next(4) == 0) packet = packet[..rng.Next(packet.Length)];
            }
            try
            {
                DnsMessage.Parse(packet);
                parsed++;
            }
            catch (DnsFormatException)
            {
            }
            foreach (bool tcp in new[] { false, true })
            {
                var kind = engine.Handle(packet, tcp, w, out _);
                if (kind == RequestKind.Respond)
                {
                    Assert.True(w.Length <= (tcp ? 65535 : 1232));
                    DnsMessage.Parse(w.Written); // whatever we answer is well-formed
                }
            }
        }
        Assert.True(parsed > 100);
    }

    [Fact]
    public void Tsig_signs_and_verifies_and_rejects_tampering()
    {
        var secret = new byte[32];
        Random.Shared.NextBytes(secret);
        var key = new DnsTsigKey { Name = "k1", Secret = Convert.ToBase64String(secret) };
        var tsig = new Tsig([key], TimeSpan.FromSeconds(300), TimeProvider.System);
        var update = new DnsMessage { Id = 77 };
        update.Opcode = DnsOpcode.Update;
        update.Questions.Add(new DnsQuestion(N("example.test."), RrType.SOA));
        var signed = Tsig.SignRequest(update.ToWire(), N("k1."), secret, DateTimeOffset.UtcNow);
        var parsed = DnsMessage.Parse(signed);
        var check = tsig.Verify(parsed, signed);
        Assert.True(check.Valid);

        var tampered = (byte[])signed.Clone();
        tampered[14] ^= 1; // a letter of the zone name (the id may change in transit: the MAC covers the original id)
        var t = DnsMessage.Parse(tampered);
        Assert.Equal(DnsRcode.BadSig, tsig.Verify(t, tampered).Error);

        var otherKey = Tsig.SignRequest(update.ToWire(), N("k2."), secret, DateTimeOffset.UtcNow);
        Assert.Equal(DnsRcode.BadKey, tsig.Verify(DnsMessage.Parse(otherKey), otherKey).Error);

        var old = Tsig.SignRequest(update.ToWire(), N("k1."), secret, DateTimeOffset.UtcNow.AddHours(-1));
        Assert.Equal(DnsRcode.BadTime, tsig.Verify(DnsMessage.Parse(old), old).Error);

        // The response is signed over the request MAC and carries a TSIG record.
        var response = new DnsMessage { Id = 77, Flags = DnsFlags.QR };
        response.Opcode = DnsOpcode.Update;
        var signedResponse = tsig.Sign(response.ToWire(), check, N("k1."));
        Assert.Equal(RrType.TSIG, DnsMessage.Parse(signedResponse).Tsig!.Type);
    }

    [Fact]
    public void Serial_arithmetic_follows_rfc_1982()
    {
        Assert.True(SerialNumber.Greater(2, 1));
        Assert.True(SerialNumber.Greater(0, uint.MaxValue));
        Assert.True(SerialNumber.Greater(1, 0x8000_0002));
        Assert.False(SerialNumber.Greater(0x8000_0002, 1));
        Assert.Equal(5u, SerialNumber.Max([uint.MaxValue, 5, 3]));
    }

    [Fact]
    public void Zone_digests_do_not_depend_on_order()
    {
        var a = new ZoneDigest();
        a.Add("x");
        a.Add("y");
        var b = new ZoneDigest();
        b.Add("y");
        b.Add("z");
        b.Add("x");
        b.Remove("z");
        Assert.Equal(a.Value, b.Value);
        Assert.NotEqual(a.Value, ZoneDigest.Of(["x"]));
    }

    [Fact]
    public void Options_validation_names_each_bad_setting()
    {
        var o = new DnsOptions
        {
            Port = 70000,
            ListenAddress = "nope",
            TransferAllow = ["10.0.0.0/33"],
            Notify = ["x:y"],
            TsigKeys = [new DnsTsigKey { Name = "k", Secret = "short", Algorithm = "hmac-md5" }],
            MaxUdpPayload = 100,
        };
        var errors = o.Validate();
        foreach (var setting in new[] { "Dns:Port", "Dns:ListenAddress", "Dns:TransferAllow:0", "Dns:Notify:0", "Dns:TsigKeys:0:Algorithm", "Dns:TsigKeys:0:Secret", "Dns:MaxUdpPayload" })
            Assert.Contains(errors, e => e.StartsWith(setting, StringComparison.Ordinal));
        Assert.Empty(new DnsOptions().Validate());
        Assert.Empty(DnsOptions.ForTests().Validate());
        Assert.Throws<DnsConfigurationException>(() => new DnsService(new NoGrains(), o));
        Assert.True(AddressRange.TryParse("10.0.0.0/8", out var r) && r.Contains(IPAddress.Parse("10.1.2.3")) && !r.Contains(IPAddress.Parse("11.0.0.1")));
        Assert.True(AddressRange.TryParse("127.0.0.1", out var l) && l.Contains(IPAddress.Parse("::ffff:127.0.0.1")));
    }

    /// <summary>A grain factory with nothing behind it, for code that must not touch a node.</summary>
    private sealed class NoGrains : IDtGrainFactory
    {
        public INodeGrain GetNode(string key = "local") => throw new NotSupportedException();

        public ITableGrain GetTable(string table = "default") => throw new NotSupportedException();

        public IMessageStream GetMessageStream(string key = "default") => throw new NotSupportedException();

        public IGossipGrain GetGossip(string key = "local") => throw new NotSupportedException();

        public IMapGrain GetMap(string name) => throw new NotSupportedException();
    }
}
