using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Dt.Security;

/// <summary>
/// AES-256-GCM for one direction of a link. The nonce is the direction's IV XOR a 64-bit frame counter, so the
/// receiver accepts frames only in exact send order: a replayed, dropped, reordered or altered frame fails
/// authentication and the link is closed. The 4-byte frame header is authenticated as associated data.
/// Not thread-safe: one sender and one receiver per link.
/// </summary>
internal sealed class FrameCipher : IDisposable
{
    public const int TagSize = 16;

    /// <summary>Links are re-established well before the counter could wrap or GCM's usage bound is near.</summary>
    public const ulong MaxFrames = 1UL << 40;

    private readonly AesGcm _aes;
    private readonly byte[] _iv;
    private ulong _counter;

    public FrameCipher(CipherKey key)
    {
        _aes = new AesGcm(key.Key, TagSize);
        _iv = key.Iv;
    }

    public ulong Counter => _counter;

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="destination"/> (ciphertext then tag).</summary>
    public void Seal(ReadOnlySpan<byte> header, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        Span<byte> nonce = stackalloc byte[12];
        NextNonce(nonce);
        _aes.Encrypt(nonce, plaintext, destination[..plaintext.Length], destination.Slice(plaintext.Length, TagSize), header);
    }

    /// <summary>Decrypts a frame body (ciphertext then tag); false if it is not the next authentic frame.</summary>
    public bool TryOpen(ReadOnlySpan<byte> header, ReadOnlySpan<byte> body, Span<byte> plaintext)
    {
        if (body.Length < TagSize) return false;
        Span<byte> nonce = stackalloc byte[12];
        NextNonce(nonce);
        int n = body.Length - TagSize;
        try
        {
            _aes.Decrypt(nonce, body[..n], body[n..], plaintext[..n], header);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    private void NextNonce(Span<byte> nonce)
    {
        if (_counter >= MaxFrames) throw new CryptographicException("frame counter exhausted; the link must be re-established");
        _iv.CopyTo(nonce);
        ulong x = BinaryPrimitives.ReadUInt64BigEndian(nonce[4..]) ^ _counter++;
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], x);
    }

    public void Dispose() => _aes.Dispose();
}
