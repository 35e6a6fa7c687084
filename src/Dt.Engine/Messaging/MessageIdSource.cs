using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Dt.Messaging;

/// <summary>
/// New message ids: a random 64-bit prefix drawn once per node run, then a counter from a random start. Unique across
/// nodes unless two runs draw the same prefix (odds 2^-64 per pair), and without <see cref="Guid.NewGuid"/>'s call into
/// the OS random source per id, which was a quarter of the sender's time per message.
/// </summary>
internal sealed class MessageIdSource
{
    private readonly ulong _prefix;
    private long _counter;

    public MessageIdSource()
    {
        Span<byte> seed = stackalloc byte[16];
        RandomNumberGenerator.Fill(seed);
        _prefix = BinaryPrimitives.ReadUInt64BigEndian(seed);
        _counter = BinaryPrimitives.ReadInt64BigEndian(seed[8..]);
    }

    public Guid Next()
    {
        ulong n = (ulong)Interlocked.Increment(ref _counter);
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, _prefix);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], n);
        return new Guid(bytes, bigEndian: true);
    }
}
