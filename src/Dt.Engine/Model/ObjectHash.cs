using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Dt.Model;

/// <summary>SHA-256 of an object's canonical JSON: the object's identity. Stored as four big-endian lanes.</summary>
internal readonly record struct ObjectHash(ulong A, ulong B, ulong C, ulong D)
{
    public const int Size = 32;

    public static ObjectHash Read(ReadOnlySpan<byte> s) => new(
        BinaryPrimitives.ReadUInt64BigEndian(s),
        BinaryPrimitives.ReadUInt64BigEndian(s[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(s[16..]),
        BinaryPrimitives.ReadUInt64BigEndian(s[24..]));

    public static ObjectHash Of(ReadOnlySpan<byte> canonicalJson)
    {
        Span<byte> h = stackalloc byte[Size];
        SHA256.HashData(canonicalJson, h);
        return Read(h);
    }

    public void Write(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt64BigEndian(d, A);
        BinaryPrimitives.WriteUInt64BigEndian(d[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(d[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(d[24..], D);
    }

    /// <summary>The top <paramref name="bits"/> bits (0 to 64) of the hash, right-aligned.</summary>
    public ulong Prefix(int bits) => bits == 0 ? 0 : A >> (64 - bits);

    public override string ToString()
    {
        Span<byte> b = stackalloc byte[Size];
        Write(b);
        return Convert.ToHexStringLower(b);
    }

    public static bool TryParse(string? hex, out ObjectHash hash)
    {
        hash = default;
        if (hex is null || hex.Length != 64) return false;
        Span<byte> b = stackalloc byte[Size];
        if (Convert.FromHexString(hex, b, out _, out int written) != System.Buffers.OperationStatus.Done || written != Size) return false;
        hash = Read(b);
        return true;
    }

    public override int GetHashCode() => (int)B ^ (int)(B >> 32);
}
