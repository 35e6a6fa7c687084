using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Dt.Protocol;

/// <summary>Appends protocol fields to a growable pooled buffer. Integers are big-endian; lengths are varints.</summary>
internal sealed class WireWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer;
    private int _written;

    public WireWriter(int initialCapacity = 256) => _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);

    public int Length => _written;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    public void Reset() => _written = 0;

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(Math.Max(sizeHint, 1));
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(Math.Max(sizeHint, 1));
        return _buffer.AsSpan(_written);
    }

    public void U8(byte value) { Ensure(1); _buffer[_written++] = value; }

    public void U16(ushort value) { Ensure(2); BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_written), value); _written += 2; }

    public void U32(uint value) { Ensure(4); BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(_written), value); _written += 4; }

    public void U64(ulong value) { Ensure(8); BinaryPrimitives.WriteUInt64BigEndian(_buffer.AsSpan(_written), value); _written += 8; }

    public void I64(long value) => U64((ulong)value);

    public void VarUInt(ulong value)
    {
        Ensure(10);
        while (value >= 0x80)
        {
            _buffer[_written++] = (byte)(value | 0x80);
            value >>= 7;
        }
        _buffer[_written++] = (byte)value;
    }

    public void Bytes(ReadOnlySpan<byte> value) { Ensure(value.Length); value.CopyTo(_buffer.AsSpan(_written)); _written += value.Length; }

    /// <summary>A varint length, then the bytes.</summary>
    public void Blob(ReadOnlySpan<byte> value) { VarUInt((ulong)value.Length); Bytes(value); }

    public void String(string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        Ensure(max + 10);
        int n = Encoding.UTF8.GetByteCount(value);
        VarUInt((ulong)n);
        _written += Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_written));
    }

    public void Guid(Guid value) { Ensure(16); value.TryWriteBytes(_buffer.AsSpan(_written), bigEndian: true, out _); _written += 16; }

    public byte[] ToArray() => _buffer.AsSpan(0, _written).ToArray();

    private void Ensure(int extra)
    {
        if (_written + extra <= _buffer.Length) return;
        int size = Math.Max(_buffer.Length * 2, _written + extra);
        byte[] next = ArrayPool<byte>.Shared.Rent(size);
        _buffer.AsSpan(0, _written).CopyTo(next);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = next;
    }

    public void Dispose()
    {
        if (_buffer.Length == 0) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _written = 0;
    }
}
