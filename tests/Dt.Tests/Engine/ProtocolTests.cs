using System.Buffers;
using System.IO.Pipelines;
using Dt.Protocol;
using Dt.Replication;
using Dt.Security;
using Xunit;
using Dt.Model;

namespace Dt.Tests.Engine;

public sealed class ProtocolTests
{
    private static byte[] Frames(params byte[][] bodies)
    {
        var list = new List<byte>();
        foreach (var b in bodies)
        {
            var h = new byte[4];
            FrameCodec.WriteHeader(h, b.Length);
            list.AddRange(h);
            list.AddRange(b);
        }
        return [.. list];
    }

    [Fact]
    public async Task Frames_split_at_every_byte_offset_parse_through_a_pipe()
    {
        byte[][] bodies = [[1, 2, 3], [], [.. Enumerable.Range(0, 300).Select(i => (byte)i)], [9]];
        byte[] stream = Frames(bodies);
        for (int split = 0; split <= stream.Length; split++)
        {
            var pipe = new Pipe();
            await pipe.Writer.WriteAsync(stream.AsMemory(0, split), TestContext.Current.CancellationToken);
            await pipe.Writer.FlushAsync(TestContext.Current.CancellationToken);
            var writeRest = Task.Run(async () =>
            {
                // The rest arrives one byte at a time, so headers split too.
                for (int i = split; i < stream.Length; i++) await pipe.Writer.WriteAsync(stream.AsMemory(i, 1));
                await pipe.Writer.CompleteAsync();
            }, TestContext.Current.CancellationToken);
            var got = new List<byte[]>();
            while (true)
            {
                var result = await pipe.Reader.ReadAsync(TestContext.Current.CancellationToken);
                var buffer = result.Buffer;
                while (FrameCodec.TryRead(ref buffer, 1024, out var body) == FrameReadResult.Frame) got.Add(body.ToArray());
                pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
            await writeRest;
            Assert.Equal(bodies.Length, got.Count);
            for (int i = 0; i < bodies.Length; i++) Assert.Equal(bodies[i], got[i]);
        }
    }

    [Fact]
    public void A_multi_segment_sequence_parses_like_a_contiguous_one()
    {
        byte[] stream = Frames([1, 2, 3, 4, 5], [6, 7]);
        for (int split = 1; split < stream.Length; split++)
        {
            var seq = Segments(stream[..split], stream[split..]);
            Assert.Equal(FrameReadResult.Frame, FrameCodec.TryRead(ref seq, 64, out var a));
            Assert.Equal(FrameReadResult.Frame, FrameCodec.TryRead(ref seq, 64, out var b));
            Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, a.ToArray());
            Assert.Equal(new byte[] { 6, 7 }, b.ToArray());
            Assert.Equal(0, seq.Length);
        }
    }

    [Fact]
    public void An_oversized_length_prefix_is_refused_from_the_header_alone()
    {
        var seq = new ReadOnlySequence<byte>([0xFF, 0xFF, 0xFF, 0xFF]);
        Assert.Equal(FrameReadResult.TooLarge, FrameCodec.TryRead(ref seq, 16 << 20, out _));
        var justOver = new ReadOnlySequence<byte>([0x00, 0x01, 0x00, 0x01]);
        Assert.Equal(FrameReadResult.TooLarge, FrameCodec.TryRead(ref justOver, 65536, out _));
        var partial = new ReadOnlySequence<byte>([0x00, 0x00]);
        Assert.Equal(FrameReadResult.NeedMore, FrameCodec.TryRead(ref partial, 65536, out _));
    }

    [Fact]
    public void Truncated_and_malformed_messages_raise_protocol_errors_not_crashes()
    {
        var changes = Encode("t", """{"a":1}"""u8.ToArray());
        for (int cut = 1; cut < changes.Length; cut++)
        {
            var body = changes.AsSpan(1, cut - 1).ToArray();
            Assert.Throws<ProtocolException>(() => { var r = new WireReader(body); BatchCodec.Decode(ref r, 1024); });
        }
        // A count that claims more items than the frame can hold is refused before allocating for them.
        using var w = new WireWriter();
        w.String("t");
        w.VarUInt(1_000_000);
        var huge = w.ToArray();
        Assert.Throws<ProtocolException>(() => { var r = new WireReader(huge); BatchCodec.Decode(ref r, 1024); });
    }

    [Fact]
    public void An_object_that_does_not_match_its_hash_is_refused()
    {
        var good = Encode("t", """{"a":1}"""u8.ToArray());
        var r = new WireReader(good.AsSpan(1));
        var (_, groups) = BatchCodec.Decode(ref r, 1024);
        Assert.Equal(ObjectHash.Of("""{"a":1}"""u8), groups[0].Included[0].Hash);
        // Swap the object for another of the same length: the member hash no longer matches.
        var bad = (byte[])good.Clone();
        int at = bad.AsSpan().LastIndexOf("""{"a":1}"""u8);
        bad[at + 5] = (byte)'2';
        Assert.Throws<ProtocolException>(() => { var rr = new WireReader(bad.AsSpan(1)); BatchCodec.Decode(ref rr, 1024); });
    }

    private static byte[] Encode(string table, byte[] json)
    {
        using var key = MasterSigningKey.Generate();
        var member = new BatchMember(ObjectHash.Of(json), false);
        var batch = new ChangeBatch(key.Id, 5, [member], key.SignDigest(ChangeBatch.Digest("dt", table, key.Id, 5, [member])));
        using var w = new WireWriter();
        BatchCodec.EncodeHeader(w, table, 1);
        BatchCodec.EncodeGroup(w, batch, [new Change(member.Hash, batch.VersionOf(member), json, batch, 0)], 0, 1);
        return w.ToArray();
    }

    [Fact]
    public void Link_ciphers_reject_altered_replayed_and_reordered_frames()
    {
        var key = NetworkKey.Generate();
        var dialer = new Handshake(true, Handshake.CreateHello(false, "net", key, Guid.NewGuid(), 1));
        var listener = new Handshake(false, Handshake.CreateHello(false, "net", key, Guid.NewGuid(), 2));
        var d = dialer.Derive(listener.Local, listener.LocalBytes, key, "net");
        var l = listener.Derive(dialer.Local, dialer.LocalBytes, key, "net");
        Assert.True(l.VerifyPeerConfirm(d.Confirm()));
        Assert.True(d.VerifyPeerConfirm(l.Confirm()));
        Assert.False(d.VerifyPeerConfirm(d.Confirm()));

        using var send = new FrameCipher(d.Send);
        byte[] header = [0, 0, 0, 21];
        byte[] f1 = new byte[21], f2 = new byte[21], f3 = new byte[21];
        send.Seal(header, "hello"u8, f1);
        send.Seal(header, "world"u8, f2);
        send.Seal(header, "again"u8, f3);
        var plain = new byte[5];

        using (var receive = new FrameCipher(l.Receive))
        {
            Assert.True(receive.TryOpen(header, f1, plain));
            Assert.Equal("hello"u8.ToArray(), plain);
            Assert.False(receive.TryOpen(header, f1, plain)); // replayed
        }
        using (var receive = new FrameCipher(l.Receive))
            Assert.False(receive.TryOpen(header, f2, plain)); // reordered: f2 before f1
        using (var receive = new FrameCipher(l.Receive))
        {
            var altered = (byte[])f1.Clone();
            altered[2] ^= 1;
            Assert.False(receive.TryOpen(header, altered, plain));
        }
        using (var receive = new FrameCipher(l.Receive))
            Assert.False(receive.TryOpen([0, 0, 0, 22], f1, plain)); // header is authenticated

        // A different network name derives different keys from the same key and hellos.
        var other = listener.Derive(dialer.Local, dialer.LocalBytes, key, "other");
        Assert.False(other.VerifyPeerConfirm(d.Confirm()));
    }

    private static ReadOnlySequence<byte> Segments(byte[] a, byte[] b)
    {
        var first = new Segment(a);
        var last = first.Append(b);
        return new ReadOnlySequence<byte>(first, 0, last, b.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data) => Memory = data;

        public Segment Append(byte[] data)
        {
            var next = new Segment(data) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
