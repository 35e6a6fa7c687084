using System.Buffers.Binary;
using System.Text;

namespace Dt.Protocol;

/// <summary>
/// Reads protocol fields from one decrypted frame. Every read is bounds-checked and throws
/// <see cref="ProtocolException"/> on truncated or malformed input, never an unexpected exception type.
/// </summary>
internal ref struct WireReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _pos;

    public readonly int Remaining => _data.Length - _pos;

    /// <summary>Bytes read so far (the offset of the next field).</summary>
    public readonly int Position => _pos;

    public readonly bool End => _pos >= _data.Length;

    public byte U8() => Take(1)[0];

    public ushort U16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));

    public uint U32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));

    public ulong U64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

    public long I64() => (long)U64();

    public ulong VarUInt()
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = U8();
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new ProtocolException("varint longer than 64 bits");
    }

    /// <summary>A varint count, checked against a cap and against the bytes left (each item needs at least <paramref name="minItemSize"/> bytes).</summary>
    public int Count(int max, int minItemSize = 1)
    {
        ulong n = VarUInt();
        if (n > (ulong)max) throw new ProtocolException($"count {n} above the limit {max}");
        if (minItemSize > 0 && n * (ulong)minItemSize > (ulong)Remaining) throw new ProtocolException($"count {n} does not fit in the frame");
        return (int)n;
    }

    public ReadOnlySpan<byte> Bytes(int length) => Take(length);

    public ReadOnlySpan<byte> Blob(int maxLength)
    {
        int n = Count(maxLength, 1);
        return Take(n);
    }

    public string String(int maxBytes)
    {
        var bytes = Blob(maxBytes);
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new ProtocolException("string is not valid UTF-8");
        }
    }

    public Guid Guid() => new(Take(16), bigEndian: true);

    public readonly void ExpectEnd()
    {
        if (!End) throw new ProtocolException($"{Remaining} unexpected bytes at the end of a message");
    }

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || _pos + n > _data.Length) throw new ProtocolException("message truncated");
        var span = _data.Slice(_pos, n);
        _pos += n;
        return span;
    }
}
