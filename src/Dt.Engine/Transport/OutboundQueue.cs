using System.Buffers;
using System.Runtime.InteropServices;
using Dt.Protocol;

namespace Dt.Transport;

/// <summary>
/// A link's messages waiting to be sealed, in send order, gathered as they are queued: small messages are appended to
/// a pooled segment already laid out as a bundle's plaintext (type byte, then varint length and message per entry), so
/// the writer seals a whole segment in one AEAD call without copying it again; a large message gets a segment of its own.
/// Replaces one pooled buffer and one channel item per message. Thread-safe for any number of senders and one writer.
/// </summary>
internal sealed class OutboundQueue
{
    /// <summary>Messages up to this size are bundled; larger ones are sealed alone.</summary>
    public const int SmallMessage = 2048;

    /// <summary>A bundle's plaintext is at most this (one AEAD call amortized over ~470 messages of 140 bytes).</summary>
    public const int SegmentBytes = 64 * 1024;

    private readonly Lock _lock = new();
    private List<Segment> _filling = [];
    private bool _completed;

    /// <summary>Queued plaintext: a bundle (<see cref="Count"/> entries after the type byte) or one large message.</summary>
    internal struct Segment
    {
        public byte[] Buffer;
        public int Length;
        public int Count;
        public bool Bundle;

        /// <summary>The messages' own bytes (type byte included), as the link's queue cap counts them.</summary>
        public long MessageBytes;

        /// <summary>What to seal: a bundle of one is sent as its message alone, as if it had never been bundled.</summary>
        public readonly ReadOnlySpan<byte> Plaintext
        {
            get
            {
                if (!Bundle || Count != 1) return Buffer.AsSpan(0, Length);
                var r = new WireReader(Buffer.AsSpan(1, Length - 1));
                int n = r.Count(Length, 1);
                return Buffer.AsSpan(Length - n, n);
            }
        }
    }

    /// <summary>Queues one message (<paramref name="type"/> then <paramref name="body"/>). False once completed.</summary>
    public bool TryAppend(byte type, ReadOnlySpan<byte> body, out bool wasEmpty)
    {
        int length = 1 + body.Length;
        if (length > SmallMessage) return TryAppendLarge(type, body, out wasEmpty);
        lock (_lock)
        {
            wasEmpty = _filling.Count == 0;
            if (_completed) return false;
            var segments = CollectionsMarshal.AsSpan(_filling);
            int need = VarIntSize(length) + length;
            if (segments.Length == 0 || !segments[^1].Bundle || segments[^1].Length + need > SegmentBytes)
            {
                byte[] buffer = ArrayPool<byte>.Shared.Rent(SegmentBytes);
                buffer[0] = (byte)MessageType.Bundle;
                _filling.Add(new Segment { Buffer = buffer, Length = 1, Bundle = true });
                segments = CollectionsMarshal.AsSpan(_filling);
            }
            ref var s = ref segments[^1];
            var span = s.Buffer.AsSpan(s.Length);
            int at = WriteVarInt(span, (uint)length);
            span[at] = type;
            body.CopyTo(span[(at + 1)..]);
            s.Length += need;
            s.Count++;
            s.MessageBytes += length;
            return true;
        }
    }

    /// <summary>A large message is copied into its own buffer before taking the lock, so other senders do not wait on the copy.</summary>
    private bool TryAppendLarge(byte type, ReadOnlySpan<byte> body, out bool wasEmpty)
    {
        int length = 1 + body.Length;
        byte[] own = ArrayPool<byte>.Shared.Rent(length);
        own[0] = type;
        body.CopyTo(own.AsSpan(1));
        lock (_lock)
        {
            wasEmpty = _filling.Count == 0;
            if (!_completed)
            {
                _filling.Add(new Segment { Buffer = own, Length = length, Count = 1, MessageBytes = length });
                return true;
            }
        }
        ArrayPool<byte>.Shared.Return(own);
        return false;
    }

    /// <summary>Takes everything queued, in order, into <paramref name="into"/> (which must be empty); the caller returns the buffers.</summary>
    public void TakeAll(ref List<Segment> into)
    {
        lock (_lock) (into, _filling) = (_filling, into);
    }

    /// <summary>Refuses further messages and releases what is queued.</summary>
    public void Complete()
    {
        List<Segment> left;
        lock (_lock)
        {
            _completed = true;
            left = _filling;
            _filling = [];
        }
        Release(left);
    }

    public static void Release(List<Segment> segments)
    {
        foreach (var s in segments) ArrayPool<byte>.Shared.Return(s.Buffer);
        segments.Clear();
    }

    private static int VarIntSize(int value) => value < 0x80 ? 1 : value < 0x4000 ? 2 : 3;

    private static int WriteVarInt(Span<byte> destination, uint value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }
}
