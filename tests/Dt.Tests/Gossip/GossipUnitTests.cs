using System.Text.Json;
using Dt.Gossip;
using Dt.Maps;
using Dt.Protocol;
using Xunit;

namespace Dt.Tests.Gossip;

/// <summary>The pure parts: detector, patterns, codecs (round trips and fuzzing), settings, DTOs.</summary>
public sealed class GossipUnitTests
{
    [Fact]
    public void Phi_stays_low_for_regular_heartbeats_and_crosses_the_threshold_after_the_expected_silence()
    {
        var d = new PhiAccrualDetector(200, 100, minStdDevMs: 40, acceptablePauseMs: 200, maxIntervalMs: 300);
        var random = new Random(1);
        for (int i = 0; i < 200; i++) d.AddInterval(95 + random.NextDouble() * 10);
        Assert.InRange(d.Mean, 99, 101);
        Assert.True(d.Phi(100) < 0.1);
        Assert.True(d.Phi(300) < 1);
        double t = d.TimeToReach(8);
        Assert.InRange(t, 480, 540); // mean + pause + about 5.2 floored standard deviations
        Assert.InRange(d.Phi(t), 7.99, 8.2);
        double last = 0;
        for (int ms = 0; ms < 2000; ms += 10)
        {
            double phi = d.Phi(ms);
            Assert.True(phi >= last - 1e-9, $"phi must not fall as silence grows ({ms} ms)");
            last = phi;
        }
        Assert.Equal(1000, d.Phi(1e9));
        // Intervals above the cap (a partition, a pause) are not learnt.
        d.AddInterval(10_000);
        Assert.InRange(d.Mean, 99, 101);
    }

    [Theory]
    [InlineData("dns.*", "dns.a", true)]
    [InlineData("dns.*", "dns.example.com", true)]
    [InlineData("dns.*", "dns", false)]
    [InlineData("dns.*", "xdns.a", false)]
    [InlineData("*", "", true)]
    [InlineData("*", "anything.at.all", true)]
    [InlineData("job.??.done", "job.42.done", true)]
    [InlineData("job.??.done", "job.1.done", false)]
    [InlineData("a*b*c", "aXXbYYc", true)]
    [InlineData("a*b*c", "aXXbYY", false)]
    [InlineData("exact", "exact", true)]
    [InlineData("exact", "exactly", false)]
    public void Glob_patterns_match_whole_names(string pattern, string name, bool match) => Assert.Equal(match, Glob.IsMatch(pattern, name));

    [Fact]
    public void Glob_matching_is_not_exponential()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(Glob.IsMatch(string.Concat(Enumerable.Repeat("*a", 200)) + "b", new string('a', 5000)));
        Assert.True(sw.ElapsedMilliseconds < 1000);
    }

    private static readonly GossipCodec.Limits Limits = new(256, 64 << 10, 1024);

    private static byte[] DeltasMessage(MessageType type, bool more, params OwnerBatch[] batches)
    {
        using var w = new WireWriter();
        GossipCodec.WriteDeltasStart(w, type, more);
        GossipCodec.WriteBatchCount(w, batches.Length);
        foreach (var b in batches)
            GossipCodec.WriteBatch(w, b.Name, b.NodeId, b.Generation, b.Heartbeat, b.AgeMs, b.Reset, b.From, b.To, b.Entries);
        return w.ToArray();
    }

    private static readonly OwnerBatch Sample = new("node-a", Guid.NewGuid(), 1_700_000_000_000, 42, 17, false, 0, 9,
    [
        new WireEntry("k1", 3, EntryKind.Set, 0, """{"v":1}"""u8.ToArray()),
        new WireEntry("k2", 5, EntryKind.Set, 1500, "\"x\""u8.ToArray()),
        new WireEntry("k3", 7, EntryKind.Deleted, 3_600_000, null),
        new WireEntry("k4", 9, EntryKind.Expired, 60_000, null),
    ]);

    [Fact]
    public void Deltas_round_trip()
    {
        var bytes = DeltasMessage(GossipMessageTypes.Push, true, Sample, Sample with { Name = "b", NodeId = null, From = 9, To = 9, Entries = [] });
        Assert.Equal((byte)GossipMessageTypes.Push, bytes[0]);
        var (more, batches) = GossipCodec.DecodeDeltas(bytes.AsSpan(1), Limits);
        Assert.True(more);
        Assert.Equal(2, batches.Count);
        var a = batches[0];
        Assert.Equal((Sample.Name, Sample.NodeId, Sample.Generation, Sample.Heartbeat, Sample.AgeMs, Sample.From, Sample.To),
            (a.Name, a.NodeId, a.Generation, a.Heartbeat, a.AgeMs, a.From, a.To));
        Assert.Equal(Sample.Entries.Select(e => (e.Key, e.Version, e.Kind, e.RemainingMs, e.Value is null ? null : Convert.ToHexString(e.Value))),
            a.Entries.Select(e => (e.Key, e.Version, e.Kind, e.RemainingMs, e.Value is null ? null : Convert.ToHexString(e.Value))));
        Assert.Null(batches[1].NodeId);
        Assert.Empty(batches[1].Entries);
    }

    [Fact]
    public void Decoders_refuse_inconsistent_batches()
    {
        // Entries out of version order, outside the range, a reset not from 0, a value that is not JSON.
        OwnerBatch[] bad =
        [
            Sample with { Entries = [Sample.Entries[1], Sample.Entries[0]] },
            Sample with { To = 6 },
            Sample with { Reset = true, From = 2 },
            Sample with { Entries = [new WireEntry("k", 1, EntryKind.Set, 0, "{nope"u8.ToArray())] },
            Sample with { Entries = [new WireEntry("", 1, EntryKind.Set, 0, "1"u8.ToArray())] },
            Sample with { Name = "bad\nname" },
        ];
        foreach (var b in bad)
        {
            var bytes = DeltasMessage(GossipMessageTypes.Deltas, false, b);
            Assert.Throws<ProtocolException>(() => GossipCodec.DecodeDeltas(bytes.AsSpan(1), Limits));
        }
        var tooBig = DeltasMessage(GossipMessageTypes.Deltas, false, Sample with { Entries = [new WireEntry("k", 1, EntryKind.Set, 0, JsonSerializer.SerializeToUtf8Bytes(new string('x', 70_000)))] });
        Assert.Throws<ProtocolException>(() => GossipCodec.DecodeDeltas(tooBig.AsSpan(1), Limits));
    }

    [Fact]
    public void Every_decoder_turns_garbage_into_a_protocol_error_and_nothing_else()
    {
        var messages = new List<byte[]>();
        using (var w = new WireWriter())
        {
            w.U8((byte)GossipMessageTypes.Digest);
            w.U8(0);
            w.VarUInt(2);
            GossipCodec.WriteDigestEntry(w, new DigestEntry("a", 1, 2, 3, 4));
            GossipCodec.WriteDigestEntry(w, new DigestEntry("b", 5, 6, 7, 8));
            messages.Add(w.ToArray());
        }
        using (var w = new WireWriter())
        {
            GossipCodec.WriteAckStart(w, false, [new DeltaRequest("a", 1, 0)]);
            GossipCodec.WriteBatchCount(w, 1);
            GossipCodec.WriteBatch(w, Sample.Name, Sample.NodeId, Sample.Generation, Sample.Heartbeat, Sample.AgeMs, false, Sample.From, Sample.To, Sample.Entries);
            messages.Add(w.ToArray());
        }
        messages.Add(DeltasMessage(GossipMessageTypes.Deltas, false, Sample));
        using (var w = new WireWriter())
        {
            GossipCodec.WriteHeartbeat(w, "a", Guid.NewGuid(), 1, 2, 3);
            messages.Add(w.ToArray());
        }
        using (var w = new WireWriter())
        {
            GossipCodec.WriteSay(w, Guid.NewGuid(), "a", Guid.NewGuid(), "dns.update", 500, """{"z":1}"""u8);
            messages.Add(w.ToArray());
        }
        using (var w = new WireWriter())
        {
            w.U8((byte)GossipMessageTypes.MapDigest);
            w.U8(0);
            w.VarUInt(1);
            MapMessages.WriteVector(w, "cfg", [KeyValuePair.Create(Guid.NewGuid(), 5L)]);
            messages.Add(w.ToArray());
        }
        void Decode(byte[] m)
        {
            var body = m.AsSpan(1);
            switch ((MessageType)m[0])
            {
                case GossipMessageTypes.Digest: GossipCodec.DecodeDigest(body, Limits); break;
                case GossipMessageTypes.Ack: GossipCodec.DecodeAck(body, Limits); break;
                case GossipMessageTypes.Deltas: GossipCodec.DecodeDeltas(body, Limits); break;
                case GossipMessageTypes.Heartbeat: GossipCodec.DecodeHeartbeat(body); break;
                case GossipMessageTypes.Say: GossipCodec.DecodeSay(body, 1024); break;
                case GossipMessageTypes.MapDigest: MapMessages.DecodeDigest(body, 16); break;
                case GossipMessageTypes.MapAck: MapMessages.DecodeAck(body, 16, 256, 1024); break;
                default: MapMessages.DecodeDeltas(body, 256, 1024); break;
            }
        }
        foreach (var m in messages) Decode(m); // the originals are valid
        var random = new Random(7);
        int errors = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var m = messages[i % messages.Count].ToArray();
            switch (i % 3)
            {
                case 0: m[1 + random.Next(m.Length - 1)] = (byte)random.Next(256); break;
                case 1: m = m[..(1 + random.Next(m.Length - 1))]; break;
                default: random.NextBytes(m.AsSpan(1)); break;
            }
            try { Decode(m); }
            catch (ProtocolException) { errors++; }
        }
        Assert.True(errors > 10_000);
    }

    [Fact]
    public void Settings_are_validated_and_attached_per_node()
    {
        Assert.Empty(GossipOptions.Lan().Validate());
        Assert.Empty(GossipOptions.ForTests().Validate());
        var bad = new GossipOptions
        {
            NodeName = "",
            GossipInterval = TimeSpan.Zero,
            PhiThreshold = 0,
            MaxMessageBytes = 10,
            ForgetDeadAfter = TimeSpan.FromMilliseconds(100),
        };
        var errors = bad.Validate();
        Assert.Contains(errors, e => e.Contains("NodeName"));
        Assert.Contains(errors, e => e.Contains("GossipInterval"));
        Assert.Contains(errors, e => e.Contains("PhiThreshold"));
        Assert.Contains(errors, e => e.Contains("MaxMessageBytes"));
        Assert.Contains(errors, e => e.Contains("ForgetDeadAfter"));
        var copy = GossipOptions.ForTests();
        var clone = copy.Clone();
        copy.GossipInterval = TimeSpan.FromSeconds(9); // a node keeps a copy of the settings it was handed
        Assert.Equal(TimeSpan.FromMilliseconds(50), clone.GossipInterval);
    }

    [Fact]
    public void Contracts_round_trip_through_System_Text_Json()
    {
        var json = JsonDocument.Parse("""{"a":[1,2,{"b":null}]}""").RootElement;
        object[] values =
        [
            new GossipInfo("n", Guid.NewGuid().ToString(), 1, 2, 3, 4, 5, 6),
            new GossipPeer("n", "id", PeerStatus.Dead, 1, 2, 3, 4, 8.5, DateTimeOffset.UnixEpoch),
            new StateEntry("n", "k", json, 3, DateTimeOffset.UnixEpoch),
            new StateChange(GossipEventTypes.StateSet, "n", "k", json, 3),
            new StateWatch("dns.*", "n", true),
            new PeerChange(GossipEventTypes.PeerUp, "n", "id", 7, true),
            new SaidEvent("id", "e", json, "n", "id", DateTimeOffset.UnixEpoch),
            new HearRequest("x.*", true, true),
            new MapEntry("m", "k", json, DateTimeOffset.UnixEpoch, "w"),
            new MapInfo("m", 3, true, "d"),
            new MapChange(GossipEventTypes.MapDelete, "m", "k", null, json),
            new MapWatch(true),
        ];
        foreach (var v in values)
        {
            string text = JsonSerializer.Serialize(v, v.GetType());
            var back = JsonSerializer.Deserialize(text, v.GetType());
            Assert.Equal(text, JsonSerializer.Serialize(back, v.GetType()));
        }
    }
}
