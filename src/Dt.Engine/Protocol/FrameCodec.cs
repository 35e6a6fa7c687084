using System.Buffers;
using System.Buffers.Binary;

namespace Dt.Protocol;

/// <summary>
/// Length-prefixed framing: a 4-byte big-endian body length, then the body. Pure functions over byte
/// sequences so that split reads can be tested without sockets (the reference wedged on a split header).
/// </summary>
internal static class FrameCodec
{
    public const int HeaderSize = 4;

    /// <summary>
    /// Tries to take one whole frame off the front of <paramref name="buffer"/>. On success the buffer is
    /// advanced past the frame and <paramref name="body"/> slices the original sequence.
    /// A length above <paramref name="maxBodySize"/> is refused before anything is buffered for it.
    /// </summary>
    public static FrameReadResult TryRead(ref ReadOnlySequence<byte> buffer, int maxBodySize, out ReadOnlySequence<byte> body)
    {
        body = default;
        if (buffer.Length < HeaderSize)
            return FrameReadResult.NeedMore;

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (length > (uint)maxBodySize)
            return FrameReadResult.TooLarge;
        if (buffer.Length - HeaderSize < length)
            return FrameReadResult.NeedMore;

        body = buffer.Slice(HeaderSize, length);
        buffer = buffer.Slice(body.End);
        return FrameReadResult.Frame;
    }

    /// <summary>Reads the declared body length of a frame header without consuming it.</summary>
    public static uint PeekLength(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt32BigEndian(header);

    public static void WriteHeader(Span<byte> destination, int bodyLength) =>
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)bodyLength);
}

internal enum FrameReadResult
{
    NeedMore,
    Frame,
    TooLarge,
}
