using Dt.Replication;
using Dt.Security;

namespace Dt.Hosting;

/// <summary>The keys a host generates and checks: masters' signing keys (ECDSA P-256) in the forms the options take.</summary>
public static class DtKeys
{
    /// <summary>A new master signing key: the private key (Dt:MasterKey) and its public key (for Dt:TrustedMasterKeys).</summary>
    public static (string PrivateKey, string PublicKey) GenerateMasterKey()
    {
        using var key = MasterSigningKey.Generate();
        return (key.ExportPrivateBase64(), key.PublicKeyBase64);
    }

    /// <summary>Whether <paramref name="privateKey"/> is a master signing key (PKCS#8, base64).</summary>
    public static bool IsMasterKey(string? privateKey)
    {
        if (!MasterSigningKey.TryParse(privateKey, out var key)) return false;
        key!.Dispose();
        return true;
    }

    /// <summary>The public key (SubjectPublicKeyInfo, base64) of a master signing key, or null if it is none.</summary>
    public static string? PublicKeyOf(string? privateKey)
    {
        if (!MasterSigningKey.TryParse(privateKey, out var key)) return null;
        using (key) return key!.PublicKeyBase64;
    }

    /// <summary>The short fingerprint by which logs and warnings name a master's key.</summary>
    public static string? FingerprintOf(string? privateKey)
    {
        if (!MasterSigningKey.TryParse(privateKey, out var key)) return null;
        using (key) return UntrustedSigners.Fingerprint(key!.Id);
    }
}
