using Dt.Dns.Wire;
using Microsoft.Extensions.Logging;

namespace Dt.Dns.Zones;

/// <summary>
/// The master's key directory (<see cref="DnsOptions.KeyDirectory"/>): BIND-format key files, read again on every
/// signing pass so that keys added or re-timed there (dnssec-keygen, dnssec-settime) take effect without a restart.
/// Private keys never leave it: only DNSKEY and RRSIG records go to the table.
/// </summary>
internal sealed class DnssecKeyDirectory(string path, bool generate, ILogger log)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (DateTime Written, DnssecKey Key)> _cache = new(StringComparer.Ordinal);

    public string Path { get; } = path;

    /// <summary>
    /// The zone's keys. With none on disk and generation on, creates a KSK and a ZSK there first (and logs the DS to
    /// give the parent). Unreadable files are logged and skipped.
    /// </summary>
    public IReadOnlyList<DnssecKey> KeysFor(DnsName zone, DateTimeOffset now)
    {
        lock (_lock)
        {
            var keys = Read(zone);
            if (keys.Count > 0 || !generate) return keys;
            try
            {
                Generate(zone, now);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"cannot create the keys of zone {zone} in {Path} (Dns:KeyDirectory): {e.Message}", e);
            }
            keys = Read(zone);
            foreach (var k in keys.Where(k => k.IsKsk)) DnsLog.PublishDs(log, zone.ToString(), $"{zone} IN DS {k.Ds().ToText()}");
            return keys;
        }
    }

    private void Generate(DnsName zone, DateTimeOffset now)
    {
        foreach (bool ksk in new[] { true, false })
        {
            var (key, pub, priv) = DnssecKey.Generate(zone, ksk, now);
            string stem = System.IO.Path.Combine(Path, DnssecKey.FileStem(zone, key.Tag));
            while (File.Exists(stem + ".key"))
            {
                // Two keys of a zone with one tag would share a file name (and confuse validators): draw again.
                key.Dispose();
                (key, pub, priv) = DnssecKey.Generate(zone, ksk, now);
                stem = System.IO.Path.Combine(Path, DnssecKey.FileStem(zone, key.Tag));
            }
            File.WriteAllText(stem + ".key", pub);
            File.WriteAllText(stem + ".private", "");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(stem + ".private", UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(stem + ".private", priv);
            key.Dispose();
            DnsLog.KeyGenerated(log, zone.ToString(), ksk ? "KSK" : "ZSK", key.Tag, stem);
        }
    }

    private List<DnssecKey> Read(DnsName zone)
    {
        var keys = new List<DnssecKey>();
        string prefix = "K" + zone.Key + "+";
        IEnumerable<string> files;
        try
        {
            files = Directory.EnumerateFiles(Path, "K*.private").ToList();
        }
        catch (IOException e)
        {
            DnsLog.KeyUnreadable(log, Path, e.Message);
            return keys;
        }
        foreach (var priv in files)
        {
            string name = System.IO.Path.GetFileName(priv);
            if (!name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) continue;
            string pub = priv[..^".private".Length] + ".key";
            try
            {
                var written = File.GetLastWriteTimeUtc(priv);
                if (File.GetLastWriteTimeUtc(pub) > written) written = File.GetLastWriteTimeUtc(pub);
                if (!_cache.TryGetValue(priv, out var cached) || cached.Written != written)
                {
                    var key = DnssecKey.Parse(File.ReadAllText(pub), File.ReadAllText(priv), priv);
                    if (!key.Zone.Equals(zone)) throw new FormatException($"its DNSKEY is for {key.Zone}, not {zone}");
                    cached = (written, key);
                    _cache[priv] = cached;
                }
                keys.Add(cached.Key);
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                DnsLog.KeyUnreadable(log, priv, e.Message);
            }
        }
        return keys;
    }
}
