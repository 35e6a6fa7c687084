using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Dt.Dns.Text;
using Dt.Dns.Wire;

namespace Dt.Dns.Zones;

/// <summary>
/// One signing key of a zone in BIND's file format, so that <c>dnssec-keygen</c>, <c>dnssec-settime</c> and
/// <c>dnssec-dsfromkey</c> work on the same files: <c>K&lt;zone&gt;.+013+&lt;tag&gt;.key</c> (the DNSKEY record) and
/// <c>.private</c> (the private scalar and the timing metadata Publish/Activate/Inactive/Delete). Only ECDSA P-256
/// with SHA-256 (algorithm 13, RFC 6605) is supported.
/// </summary>
public sealed class DnssecKey : IDisposable
{
    public const byte EcdsaP256Sha256 = 13;

    private readonly ECDsa? _private;
    private readonly ECDsa _public;

    private DnssecKey(DnsName zone, DnskeyData dnskey, ECDsa? privateKey, DateTimeOffset? publish, DateTimeOffset? activate,
        DateTimeOffset? inactive, DateTimeOffset? delete, string? path)
    {
        Zone = zone;
        Dnskey = dnskey;
        _private = privateKey;
        _public = PublicKeyOf(dnskey);
        Publish = publish;
        Activate = activate;
        Inactive = inactive;
        Delete = delete;
        Path = path;
    }

    public DnsName Zone { get; }
    public DnskeyData Dnskey { get; }
    public ushort Tag => Dnskey.KeyTag;
    public bool IsKsk => Dnskey.IsKsk;
    public DateTimeOffset? Publish { get; }
    public DateTimeOffset? Activate { get; }
    public DateTimeOffset? Inactive { get; }
    public DateTimeOffset? Delete { get; }

    /// <summary>The .private file it was read from (null for a key held only in memory).</summary>
    public string? Path { get; }

    /// <summary>Its DNSKEY is in the zone at <paramref name="now"/>: published and not yet deleted.</summary>
    public bool IsPublished(DateTimeOffset now) => (Publish is null || Publish <= now) && !(Delete <= now);

    /// <summary>It signs at <paramref name="now"/>: published, activated, not inactive.</summary>
    public bool IsActive(DateTimeOffset now) => IsPublished(now) && (Activate is null || Activate <= now) && !(Inactive <= now);

    /// <summary>The DS record for the parent (digest type 2, SHA-256; RFC 4509): SHA-256 of owner name and DNSKEY RDATA.</summary>
    public DsData Ds()
    {
        var w = new DnsWriter();
        w.Reset();
        w.WriteName(Zone, compress: false, lowerCase: true);
        w.WriteBytes(Dnskey.CanonicalWire);
        return new DsData(Tag, Dnskey.Algorithm, 2, SHA256.HashData(w.Written));
    }

    /// <summary>Signs <paramref name="data"/> (ECDSA P-256, SHA-256, r||s as RFC 6605 §4 wants).</summary>
    public byte[] Sign(ReadOnlySpan<byte> data) =>
        (_private ?? throw new InvalidOperationException($"key {Tag} of {Zone} has no private key"))
            .SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
        _public.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    /// <summary>Verifies with the public key of a DNSKEY record (algorithm 13 only).</summary>
    public static bool Verify(DnskeyData key, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        using var ecdsa = PublicKeyOf(key);
        return ecdsa.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    private static ECDsa PublicKeyOf(DnskeyData key)
    {
        if (key.Algorithm != EcdsaP256Sha256 || key.PublicKey.Length != 64)
            throw new FormatException($"DNSKEY algorithm {key.Algorithm} with a {key.PublicKey.Length}-byte key is not supported (only 13, ECDSAP256SHA256)");
        return ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = key.PublicKey[..32], Y = key.PublicKey[32..] },
        });
    }

    /// <summary>A new key (KSK with <paramref name="ksk"/>), published and active from <paramref name="now"/>, not yet on disk.</summary>
    public static (DnssecKey Key, string PublicText, string PrivateText) Generate(DnsName zone, bool ksk, DateTimeOffset now)
    {
        var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = ecdsa.ExportParameters(includePrivateParameters: true);
        var dnskey = new DnskeyData((ushort)(DnskeyData.ZoneKeyFlag | (ksk ? DnskeyData.SepFlag : 0)), 3, EcdsaP256Sha256, [.. p.Q.X!, .. p.Q.Y!]);
        var key = new DnssecKey(zone, dnskey, ecdsa, now, now, null, null, null);
        string stamp = Stamp(now);
        string pub = $"; This is a {(ksk ? "key" : "zone")}-signing key, keyid {key.Tag}, for {zone}\n" +
                     $"; Created: {stamp}\n; Publish: {stamp}\n; Activate: {stamp}\n" +
                     $"{zone} IN DNSKEY {dnskey.ToText()}\n";
        string priv = "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\n" +
                      $"PrivateKey: {Convert.ToBase64String(p.D!)}\nCreated: {stamp}\nPublish: {stamp}\nActivate: {stamp}\n";
        return (key, pub, priv);
    }

    /// <summary>BIND's file name stem for a key: K&lt;zone&gt;.+013+&lt;tag&gt;.</summary>
    public static string FileStem(DnsName zone, ushort tag) => string.Create(CultureInfo.InvariantCulture, $"K{zone}+{EcdsaP256Sha256:D3}+{tag:D5}");

    /// <summary>
    /// Reads a key from its .key text (the DNSKEY record, ';' comments) and .private text (BIND v1.x). The zone is the
    /// DNSKEY's owner. Throws <see cref="FormatException"/> naming what is wrong.
    /// </summary>
    public static DnssecKey Parse(string publicText, string privateText, string? path = null)
    {
        DnsName? owner = null;
        DnskeyData? dnskey = null;
        foreach (var line in publicText.Split('\n'))
        {
            var t = line.Split(';')[0].Trim();
            if (t.Length == 0) continue;
            var rr = ZoneText.ParseRecord(t, DnsName.Root);
            if (rr.Data is not DnskeyData k) throw new FormatException($"the .key file holds a {rr.Type} record, not a DNSKEY");
            owner = rr.Name.ToLowerCase();
            dnskey = k;
        }
        if (owner is null || dnskey is null) throw new FormatException("the .key file holds no DNSKEY record");
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in privateText.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) fields[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        if (!fields.TryGetValue("Private-key-format", out var format) || !format.StartsWith("v1.", StringComparison.Ordinal))
            throw new FormatException("the .private file is not in BIND's Private-key-format v1.x");
        if (!fields.TryGetValue("Algorithm", out var alg) || !alg.StartsWith("13", StringComparison.Ordinal) || dnskey.Algorithm != EcdsaP256Sha256)
            throw new FormatException($"algorithm '{(alg ?? dnskey.Algorithm.ToString(CultureInfo.InvariantCulture))}' is not supported (only 13, ECDSAP256SHA256)");
        if (!fields.TryGetValue("PrivateKey", out var d64) || !DnsOptions.TryBase64(d64, out var d) || d.Length != 32)
            throw new FormatException("the .private file has no 32-byte PrivateKey");
        ECDsa ecdsa;
        try
        {
            ecdsa = ECDsa.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                D = d,
                Q = new ECPoint { X = dnskey.PublicKey[..32], Y = dnskey.PublicKey[32..] },
            });
        }
        catch (CryptographicException)
        {
            throw new FormatException("the private key does not match the DNSKEY of the .key file");
        }
        // The pair must match: a signature by the private key verifies with the DNSKEY's public key.
        byte[] probe = Encoding.ASCII.GetBytes("dt-dnssec-probe");
        var key = new DnssecKey(owner, dnskey, ecdsa, Time(fields, "Publish"), Time(fields, "Activate"), Time(fields, "Inactive"), Time(fields, "Delete"), path);
        if (!key.Verify(probe, key.Sign(probe))) throw new FormatException("the private key does not match the DNSKEY of the .key file");
        return key;
    }

    private static DateTimeOffset? Time(Dictionary<string, string> fields, string name)
    {
        if (!fields.TryGetValue(name, out var v)) return null;
        var stamp = v.Split(' ')[0];
        if (stamp == "0") return null;
        if (!DateTime.TryParseExact(stamp, "yyyyMMddHHmmss", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
            throw new FormatException($"{name} '{v}' is not YYYYMMDDHHmmSS");
        return new DateTimeOffset(t, TimeSpan.Zero);
    }

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    public void Dispose()
    {
        _private?.Dispose();
        _public.Dispose();
    }
}
