using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Dt.Protocol;

namespace Dt.Security;

/// <summary>
/// What a node says about itself in the first, clear-text frame of a link. Nothing in it is secret: the key id and
/// network tag only let a mismatch be refused with a clear reason; the proof of the key comes in <see cref="Handshake.Confirm"/>.
/// </summary>
internal sealed record Hello(byte Version, bool IsMaster, byte[] NetworkTag, byte[] KeyId, byte[] Nonce, Guid NodeId, ushort ListenPort, bool IsTest = false,
    bool DerivesHashes = true)
{
    public static ReadOnlySpan<byte> Magic => "DTP1"u8;

    public const byte CurrentVersion = 1;

    public const int Size = 4 + 1 + 1 + 8 + 8 + 32 + 16 + 2;

    public byte[] Encode()
    {
        var bytes = new byte[Size];
        var s = bytes.AsSpan();
        Magic.CopyTo(s);
        s[4] = Version;
        // Flags: master, node test, and (bit 2) "send me bulk changes without the hashes of included objects, I derive
        // them" (BatchCodec's derived form). Older nodes ignore bits they do not know, so a flag is how a capability
        // is offered without a new protocol version.
        s[5] = (byte)((IsMaster ? 1 : 0) | (IsTest ? 2 : 0) | (DerivesHashes ? 4 : 0));
        NetworkTag.CopyTo(s[6..]);
        KeyId.CopyTo(s[14..]);
        Nonce.CopyTo(s[22..]);
        NodeId.TryWriteBytes(s[54..], bigEndian: true, out _);
        BinaryPrimitives.WriteUInt16BigEndian(s[70..], ListenPort);
        return bytes;
    }

    public static Hello Decode(ReadOnlySpan<byte> s)
    {
        if (s.Length != Size || !s[..4].SequenceEqual(Magic))
            throw new ProtocolException("not a Dt peer (bad hello)");
        if (s[4] != CurrentVersion)
            throw new ProtocolException($"protocol version {s[4]} is not supported (this node speaks {CurrentVersion})");
        return new Hello(s[4], (s[5] & 1) != 0, s[6..14].ToArray(), s[14..22].ToArray(), s[22..54].ToArray(),
            new Guid(s[54..70], bigEndian: true), BinaryPrimitives.ReadUInt16BigEndian(s[70..]), (s[5] & 2) != 0, (s[5] & 4) != 0);
    }
}

/// <summary>
/// The link handshake (pure computation; no I/O). Both sides send a <see cref="Hello"/>; both derive per-direction
/// AES-256-GCM keys and IVs with HKDF from the shared key, both nonces, the network name and the transcript; both
/// then prove the key with an HMAC over the transcript. A recorded session replayed later fails because the
/// other side's fresh nonce changes every key.
/// </summary>
internal sealed class Handshake
{
    private const int KeyBytes = 32, IvBytes = 12;

    public Handshake(bool isDialer, Hello local) { IsDialer = isDialer; Local = local; LocalBytes = local.Encode(); }

    public bool IsDialer { get; }

    public Hello Local { get; }

    public byte[] LocalBytes { get; }

    /// <param name="isTest">A short-lived link that only measures round trips (a node test); the peer treats it as such.</param>
    public static Hello CreateHello(bool isMaster, string network, NetworkKey key, Guid nodeId, ushort listenPort, bool isTest = false) =>
        new(Hello.CurrentVersion, isMaster, NetworkKey.NetworkTag(network), key.Id, RandomNumberGenerator.GetBytes(32), nodeId, listenPort, isTest);

    /// <summary>Derives the link keys once the peer's hello has been accepted.</summary>
    public LinkSecrets Derive(Hello remote, byte[] remoteBytes, NetworkKey key, string network)
    {
        byte[] dialerHello = IsDialer ? LocalBytes : remoteBytes;
        byte[] listenerHello = IsDialer ? remoteBytes : LocalBytes;
        byte[] transcript = SHA256.HashData([.. dialerHello, .. listenerHello]);
        byte[] salt = [.. (IsDialer ? Local.Nonce : remote.Nonce), .. (IsDialer ? remote.Nonce : Local.Nonce)];
        byte[] info = [.. "dt link v1\0"u8, .. Encoding.UTF8.GetBytes(network), 0, .. transcript];
        byte[] okm = HKDF.DeriveKey(HashAlgorithmName.SHA256, key.Secret.ToArray(), 2 * KeyBytes + 2 * IvBytes + 32, salt, info);
        var d2l = new CipherKey(okm.AsSpan(0, KeyBytes), okm.AsSpan(2 * KeyBytes, IvBytes));
        var l2d = new CipherKey(okm.AsSpan(KeyBytes, KeyBytes), okm.AsSpan(2 * KeyBytes + IvBytes, IvBytes));
        byte[] confirmKey = okm.AsSpan(2 * KeyBytes + 2 * IvBytes, 32).ToArray();
        return new LinkSecrets(IsDialer ? d2l : l2d, IsDialer ? l2d : d2l, confirmKey, transcript, IsDialer);
    }
}

internal readonly record struct CipherKey(byte[] Key, byte[] Iv)
{
    public CipherKey(ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv) : this(key.ToArray(), iv.ToArray()) { }
}

/// <summary>The secrets of one established link.</summary>
internal sealed class LinkSecrets(CipherKey send, CipherKey receive, byte[] confirmKey, byte[] transcript, bool isDialer)
{
    public CipherKey Send { get; } = send;

    public CipherKey Receive { get; } = receive;

    /// <summary>This side's proof of the key: HMAC(confirm key, role || transcript).</summary>
    public byte[] Confirm() => Proof(isDialer);

    public bool VerifyPeerConfirm(ReadOnlySpan<byte> proof) =>
        proof.Length == 32 && CryptographicOperations.FixedTimeEquals(proof, Proof(!isDialer));

    private byte[] Proof(bool dialer) => HMACSHA256.HashData(confirmKey, (byte[])[dialer ? (byte)0x44 : (byte)0x4C, .. transcript]);
}
