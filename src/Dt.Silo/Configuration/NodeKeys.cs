using System.Security.Cryptography;
using Dt.Hosting;
using Dt.Security;

namespace Dt.Silo.Configuration;

/// <summary>Where a key came from.</summary>
internal enum KeySource { None, Configured, DataDir, Generated }

/// <summary>
/// The node's two secrets, the network key (admits nodes to the network) and, on a master, its signing key (signs
/// every change it makes). Each is taken from configuration if set, else from the data directory, else generated
/// where that makes sense: the network key only by the first master of a network (one with no peers: any other node
/// must be given the network's key, or it would form a network of its own), the signing key by every master. Keys
/// generated here are stored only once the node runs (<see cref="StoreGenerated"/>).
/// </summary>
internal sealed class NodeKeys
{
    private NodeKeys(SecretFile network, SecretFile master)
    {
        NetworkFile = network;
        MasterFile = master;
    }

    public SecretFile NetworkFile { get; }

    public SecretFile MasterFile { get; }

    public KeySource Network { get; private set; }

    public KeySource Master { get; private set; }

    /// <summary>This master's public key (base64 SubjectPublicKeyInfo), what other nodes put in Dt:TrustedMasterKeys.</summary>
    public string? MasterPublicKey { get; private set; }

    public bool GeneratedAny => Network == KeySource.Generated || Master == KeySource.Generated;

    public static NodeKeys Resolve(DtOptions dt, List<string> errors, List<string> warnings)
    {
        var keys = new NodeKeys(
            new SecretFile(dt.DataDir, "network.key", "Dt:Key", IsNetworkKey, "a 32-byte key (base64 or hex)"),
            new SecretFile(dt.DataDir, "master.key", "Dt:MasterKey", DtKeys.IsMasterKey, "an ECDSA P-256 private key (PKCS#8, base64)"));
        keys.ResolveNetworkKey(dt, errors, warnings);
        if (dt.Master) keys.ResolveMasterKey(dt, errors, warnings);
        if (!dt.Master && dt.TrustedMasterKeys.Count == 0)
            errors.Add("Dt:TrustedMasterKeys is empty: this node would drop every change, since no master's signature would be trusted. " +
                       "Pass the public key of each master (printed by the network's first node, and logged by every master at start).");
        else if (dt.Master && dt.Peers.Count > 0 && dt.TrustedMasterKeys.Count == 0)
            warnings.Add("Dt:TrustedMasterKeys is empty: this master accepts only its own changes; list the other masters' public keys to accept theirs.");
        return keys;
    }

    private void ResolveNetworkKey(DtOptions dt, List<string> errors, List<string> warnings)
    {
        string? stored = Read(NetworkFile, errors, warnings);
        if (!string.IsNullOrWhiteSpace(dt.Key))
        {
            if (stored is not null && stored != dt.Key.Trim())
                warnings.Add($"Dt:Key differs from the key stored in {NetworkFile.Path}; using Dt:Key.");
            Network = KeySource.Configured;
        }
        else if (stored is not null)
        {
            dt.Key = stored;
            Network = KeySource.DataDir;
        }
        else if (dt.Master && dt.Peers.Count == 0)
        {
            dt.Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            Network = KeySource.Generated;
        }
        else
        {
            errors.Add(dt.Master
                ? "Dt:Key is required for a master that joins a network (Dt:Peers is set): pass the network's key, printed by its first node."
                : "Dt:Key is required on a node that joins a network (Dt:Master=false): pass the key printed by the network's first node.");
        }
    }

    private void ResolveMasterKey(DtOptions dt, List<string> errors, List<string> warnings)
    {
        string? stored = Read(MasterFile, errors, warnings);
        if (!string.IsNullOrWhiteSpace(dt.MasterKey))
        {
            Master = KeySource.Configured;
        }
        else if (stored is not null)
        {
            dt.MasterKey = stored;
            Master = KeySource.DataDir;
        }
        else
        {
            dt.MasterKey = DtKeys.GenerateMasterKey().PrivateKey;
            Master = KeySource.Generated;
        }
        MasterPublicKey = DtKeys.PublicKeyOf(dt.MasterKey);
    }

    /// <summary>Writes the keys generated at start-up into the data directory.</summary>
    public void StoreGenerated(DtOptions dt)
    {
        if (Network == KeySource.Generated) NetworkFile.Write(dt.Key!);
        if (Master == KeySource.Generated) MasterFile.Write(dt.MasterKey!);
    }

    private static string? Read(SecretFile file, List<string> errors, List<string> warnings)
    {
        try
        {
            return file.TryRead(warnings);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            errors.Add($"Dt:DataDir: {e.Message}");
            return null;
        }
    }

    private static bool IsNetworkKey(string s)
    {
        Span<byte> bytes = stackalloc byte[33];
        if (Convert.TryFromBase64String(s, bytes, out int n) && n == 32) return true;
        return s.Length == 64 && s.All(char.IsAsciiHexDigit); // Dt:Key accepts hex too
    }
}
