using System.Buffers.Binary;

namespace Dt.Dns.Wire;

/// <summary>
/// Writes DNS wire format into a buffer with a size limit and name compression (RFC 1035 §4.1.4). A primitive write that does
/// not fit sets <see cref="Overflow"/>; <see cref="TryWriteRecord"/> and <see cref="TryWriteQuestion"/> instead roll back
/// to the last whole entry (position and compression table) and return false, so a message can be filled up to its limit and then marked truncated.
/// Reusable: <see cref="Reset"/> starts a new message. Not thread-safe.
/// </summary>
public sealed class DnsWriter
{
    private byte[] _buffer;
    private int _position;
    private int _limit;
    private readonly Dictionary<string, int> _compression = new(StringComparer.Ordinal);
    private readonly List<string> _compressionOrder = [];

    public DnsWriter(int capacity = 65535)
    {
        _buffer = new byte[capacity];
        _limit = capacity;
    }

    /// <summary>Bytes written so far.</summary>
    public int Length => _position;

    public int Limit => _limit;

    public bool Overflow { get; private set; }

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _position);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _position);

    public byte[] ToArray() => Written.ToArray();

    /// <summary>Starts a new message that may grow to <paramref name="limit"/> bytes (at most 65535).</summary>
    public void Reset(int limit = 65535)
    {
        limit = Math.Clamp(limit, 12, 65535);
        if (_buffer.Length < limit) _buffer = new byte[limit];
        _limit = limit;
        _position = 0;
        Overflow = false;
        _compression.Clear();
        _compressionOrder.Clear();
    }

    /// <summary>Changes the limit of the current message (e.g. to reserve room for an OPT record).</summary>
    public void SetLimit(int limit)
    {
        limit = Math.Clamp(limit, _position, 65535);
        if (_buffer.Length < limit) Array.Resize(ref _buffer, limit);
        _limit = limit;
    }

    public readonly record struct Mark(int Position, int CompressionCount, bool Overflow);

    public Mark Save() => new(_position, _compressionOrder.Count, Overflow);

    public void Restore(Mark mark)
    {
        _position = mark.Position;
        Overflow = mark.Overflow;
        for (int i = _compressionOrder.Count - 1; i >= mark.CompressionCount; i--) _compression.Remove(_compressionOrder[i]);
        _compressionOrder.RemoveRange(mark.CompressionCount, _compressionOrder.Count - mark.CompressionCount);
    }

    private bool Ensure(int n)
    {
        if (Overflow) return false;
        if (_position + n > _limit)
        {
            Overflow = true;
            return false;
        }
        return true;
    }

    public void WriteU8(byte v)
    {
        if (Ensure(1)) _buffer[_position++] = v;
    }

    public void WriteU16(ushort v)
    {
        if (!Ensure(2)) return;
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_position), v);
        _position += 2;
    }

    public void WriteU32(uint v)
    {
        if (!Ensure(4)) return;
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(_position), v);
        _position += 4;
    }

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        if (!Ensure(bytes.Length)) return;
        bytes.CopyTo(_buffer.AsSpan(_position));
        _position += bytes.Length;
    }

    /// <summary>A character-string: one length byte, then up to 255 bytes.</summary>
    public void WriteCharacterString(ReadOnlySpan<byte> s)
    {
        if (s.Length > 255) throw new ArgumentException("a character-string is at most 255 bytes", nameof(s));
        WriteU8((byte)s.Length);
        WriteBytes(s);
    }

    public void PatchU16(int offset, ushort v) => BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(offset), v);

    /// <summary>
    /// Writes a name, pointing at an earlier copy of its longest known suffix when <paramref name="compress"/> is true.
    /// Every suffix written here (compressed or not) becomes a target for later names, if it starts below offset 0x4000.
    /// <paramref name="lowerCase"/> writes labels in lower case (canonical form).
    /// </summary>
    public void WriteName(DnsName name, bool compress = true, bool lowerCase = false)
    {
        int n = name.LabelCount;
        for (int i = 0; i < n; i++)
        {
            if (compress && _compression.TryGetValue(name.SuffixKey(i), out int target))
            {
                WriteU16((ushort)(0xC000 | target));
                return;
            }
            if (Overflow) return;
            int here = _position;
            var label = name.Label(i);
            if (!Ensure(1 + label.Length)) return;
            _buffer[_position++] = (byte)label.Length;
            label.CopyTo(_buffer.AsSpan(_position));
            if (lowerCase)
                for (int k = 0; k < label.Length; k++)
                    if (_buffer[_position + k] is >= (byte)'A' and <= (byte)'Z') _buffer[_position + k] += 32;
            _position += label.Length;
            if (here < 0x3FFF && !lowerCase)
            {
                string key = name.SuffixKey(i);
                if (_compression.TryAdd(key, here)) _compressionOrder.Add(key);
            }
        }
        WriteU8(0);
    }

    /// <summary>Writes a question entry; false (and nothing written) if it does not fit.</summary>
    public bool TryWriteQuestion(DnsQuestion q)
    {
        var mark = Save();
        WriteName(q.Name);
        WriteU16((ushort)q.Type);
        WriteU16((ushort)q.Class);
        if (!Overflow) return true;
        Restore(mark);
        return false;
    }

    /// <summary>Writes a resource record; false (and nothing written) if it does not fit. <paramref name="ttl"/>
    /// overrides the record's TTL (RRset TTLs, negative-answer TTLs).</summary>
    public bool TryWriteRecord(DnsRecord rr, uint? ttl = null) => TryWriteRecord(rr.Name, rr.Type, rr.Class, ttl ?? rr.Ttl, rr.Data);

    /// <summary>Writes a resource record from its parts (e.g. a wildcard-synthesized owner); false if it does not fit.</summary>
    public bool TryWriteRecord(DnsName name, RrType type, RrClass cls, uint ttl, RData data)
    {
        var mark = Save();
        WriteName(name);
        WriteU16((ushort)type);
        WriteU16((ushort)cls);
        WriteU32(ttl);
        int lengthAt = _position;
        WriteU16(0);
        if (!Overflow)
        {
            int start = _position;
            data.Write(this, compress: true);
            if (!Overflow)
            {
                int len = _position - start;
                if (len > 65535) { Restore(mark); return false; }
                PatchU16(lengthAt, (ushort)len);
                return true;
            }
        }
        Restore(mark);
        return false;
    }

    /// <summary>Writes the 12-byte header at the current position (normally 0).</summary>
    public void WriteHeader(ushort id, ushort flags, ushort qd, ushort an, ushort ns, ushort ar)
    {
        WriteU16(id);
        WriteU16(flags);
        WriteU16(qd);
        WriteU16(an);
        WriteU16(ns);
        WriteU16(ar);
    }

    /// <summary>Sets a header count: 0 question, 1 answer, 2 authority, 3 additional.</summary>
    public void SetCount(int section, int count) => PatchU16(4 + 2 * section, checked((ushort)count));

    public void SetFlags(ushort flags) => PatchU16(2, flags);

    public ushort GetFlags() => BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(2));
}
