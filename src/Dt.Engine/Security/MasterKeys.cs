using System.Security.Cryptography;

namespace Dt.Security;

/// <summary>
/// A master's ECDSA P-256 signing key. Its <see cref="Id"/> (the first 16 bytes of SHA-256 of the public key) is the
/// author id carried by every change the master makes.
/// </summary>
internal sealed class MasterSigningKey : IDisposable
{
    private readonly ECDsa _key;

    private MasterSigningKey(ECDsa key)
    {
        _key = key;
        PublicKey = key.ExportSubjectPublicKeyInfo();
        Id = TrustedMasters.IdOf(PublicKey);
    }

    public Guid Id { get; }

    /// <summary>SubjectPublicKeyInfo bytes; base64 of these goes in other nodes' <c>Dt:TrustedMasterKeys</c>.</summary>
    public byte[] PublicKey { get; }

    public string PublicKeyBase64 => Convert.ToBase64String(PublicKey);

    public static MasterSigningKey Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>Exports the private key (PKCS#8, base64): a secret, kept in the master's data directory.</summary>
    public string ExportPrivateBase64() => Convert.ToBase64String(_key.ExportPkcs8PrivateKey());

    public static bool TryParse(string? base64Pkcs8, out MasterSigningKey? key)
    {
        key = null;
        if (string.IsNullOrWhiteSpace(base64Pkcs8)) return false;
        try
        {
            var ecdsa = ECDsa.Create();
            ecdsa.ImportPkcs8PrivateKey(Convert.FromBase64String(base64Pkcs8.Trim()), out _);
            if (ecdsa.KeySize != 256) return false;
            key = new MasterSigningKey(ecdsa);
            return true;
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            return false;
        }
    }

    public byte[] SignDigest(ReadOnlySpan<byte> sha256) => _key.SignHash(sha256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    public void Dispose() => _key.Dispose();
}

/// <summary>The public keys of the masters whose changes a node accepts, by author id.</summary>
internal sealed class TrustedMasters
{
    public const int SignatureSize = 64;

    private readonly Dictionary<Guid, ECDsa> _keys = new();

    public IReadOnlyCollection<Guid> Ids => _keys.Keys;

    public static Guid IdOf(ReadOnlySpan<byte> subjectPublicKeyInfo) => new(SHA256.HashData(subjectPublicKeyInfo)[..16]);

    public static bool TryParsePublic(string? base64Spki, out byte[] spki)
    {
        spki = [];
        if (string.IsNullOrWhiteSpace(base64Spki)) return false;
        try
        {
            spki = Convert.FromBase64String(base64Spki.Trim());
            using var ecdsa = ECDsa.Create();
            ecdsa.ImportSubjectPublicKeyInfo(spki, out _);
            return ecdsa.KeySize == 256;
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            return false;
        }
    }

    public void Add(byte[] spki)
    {
        var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(spki, out _);
        _keys[IdOf(spki)] = ecdsa;
    }

    public bool Contains(Guid author) => _keys.ContainsKey(author);

    /// <summary>True if <paramref name="signature"/> over <paramref name="sha256"/> was made by trusted master <paramref name="author"/>.</summary>
    public bool Verify(Guid author, ReadOnlySpan<byte> sha256, ReadOnlySpan<byte> signature)
    {
        if (!_keys.TryGetValue(author, out var key) || signature.Length != SignatureSize) return false;
        lock (key) return key.VerifyHash(sha256, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }
}
