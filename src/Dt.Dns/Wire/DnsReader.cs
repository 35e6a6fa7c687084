using System.Buffers.Binary;

namespace Dt.Dns.Wire;

/// <summary>Malformed DNS wire data. The server answers FORMERR (or drops the packet if even the header is short).</summary>
public sealed class DnsFormatException(string message) : Exception(message);

/// <summary>
/// Reads DNS wire format from one whole message. Names may use compression pointers; a pointer must point strictly
/// before the label it replaces (so a chain always moves backwards and ends) and at most <see cref="MaxPointers"/>
/// pointers are followed per name: loops and forward pointers are refused as malformed. Every read is bounds-checked.
/// </summary>
public ref struct DnsReader
{
    public const int MaxPointers = 64;

    private readonly ReadOnlySpan<byte> _message;

    public DnsReader(ReadOnlySpan<byte> message, int position = 0)
    {
        _message = message;
        Position = position;
    }

    public int Position { get; set; }

    public readonly int Remaining => _message.Length - Position;

    public readonly ReadOnlySpan<byte> Message => _message;

    private readonly void Need(int n, string what)
    {
        if (n < 0 || Position + n > _message.Length) throw new DnsFormatException($"the message ends inside {what}");
    }

    public byte ReadU8(string what = "a field")
    {
        Need(1, what);
        return _message[Position++];
    }

    public ushort ReadU16(string what = "a field")
    {
        Need(2, what);
        var v = BinaryPrimitives.ReadUInt16BigEndian(_message[Position..]);
        Position += 2;
        return v;
    }

    public uint ReadU32(string what = "a field")
    {
        Need(4, what);
        var v = BinaryPrimitives.ReadUInt32BigEndian(_message[Position..]);
        Position += 4;
        return v;
    }

    public ReadOnlySpan<byte> ReadBytes(int n, string what = "a field")
    {
        Need(n, what);
        var s = _message.Slice(Position, n);
        Position += n;
        return s;
    }

    public byte[] ReadCharacterString(string what = "a character-string")
    {
        int n = ReadU8(what);
        return ReadBytes(n, what).ToArray();
    }

    /// <summary>Reads a (possibly compressed) name; the position moves past its encoding in place.</summary>
    public DnsName ReadName()
    {
        var labels = new List<byte[]>(6);
        int pos = Position;
        int end = -1;
        int pointers = 0;
        int wire = 1;
        int lowestStart = pos;
        while (true)
        {
            if (pos >= _message.Length) throw new DnsFormatException("the message ends inside a domain name");
            byte len = _message[pos];
            if (len == 0)
            {
                pos++;
                break;
            }
            switch (len & 0xC0)
            {
                case 0xC0:
                    if (pos + 1 >= _message.Length) throw new DnsFormatException("the message ends inside a compression pointer");
                    int target = ((len & 0x3F) << 8) | _message[pos + 1];
                    if (end < 0) end = pos + 2;
                    // Strictly backwards from every label read so far: chains shrink and end, loops are impossible.
                    if (target >= lowestStart) throw new DnsFormatException($"a compression pointer at offset {pos} points forward or into a loop (to {target})");
                    if (++pointers > MaxPointers) throw new DnsFormatException("a name follows too many compression pointers");
                    pos = target;
                    lowestStart = target;
                    continue;
                case 0x00:
                    if (pos + 1 + len > _message.Length) throw new DnsFormatException("the message ends inside a label");
                    wire += 1 + len;
                    if (wire > DnsName.MaxWireLength) throw new DnsFormatException("a domain name is longer than 255 bytes");
                    labels.Add(_message.Slice(pos + 1, len).ToArray());
                    pos += 1 + len;
                    break;
                default:
                    throw new DnsFormatException($"a label at offset {pos} has an unsupported type (0x{len & 0xC0:X2})");
            }
        }
        Position = end >= 0 ? end : pos;
        return labels.Count == 0 ? DnsName.Root : DnsName.FromValidatedLabels([.. labels]);
    }

    public DnsQuestion ReadQuestion()
    {
        var name = ReadName();
        var type = (RrType)ReadU16("a question");
        var cls = (RrClass)ReadU16("a question");
        return new DnsQuestion(name, type, cls);
    }
}
