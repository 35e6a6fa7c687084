namespace Dt.Cdn;

/// <summary>
/// Settings of the CDN (configuration section "Cdn"). Off by default. A node with <see cref="Serve"/> serves the
/// file set <see cref="Set"/> on <see cref="Urls"/> and broadcasts beacons; with <see cref="Redirect"/> it also
/// answers on <see cref="RedirectUrls"/> with redirects to live serving nodes. <see cref="Validate"/> names every bad setting.
/// </summary>
public sealed class CdnOptions
{
    public const string Section = "Cdn";

    /// <summary>Whether a host (the silo) starts the CDN. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>The file set served (published with <c>dt files publish DIR --set NAME</c>). Default "site".</summary>
    public string Set { get; set; } = "site";

    /// <summary>Serve the set's content on <see cref="Urls"/> and send beacons. Default true.</summary>
    public bool Serve { get; set; } = true;

    /// <summary>Where content is served (http or https; port 0 picks a free one, logged at start). Default http://127.0.0.1:9880.</summary>
    public List<string> Urls { get; set; } = ["http://127.0.0.1:9880"];

    /// <summary>The base URL clients are redirected to, as beacons state it; default the first address served.</summary>
    public string? PublicUrl { get; set; }

    /// <summary>This node's location label ("eu-west", "rack-3"); the redirector prefers nodes of the client's label. Default "".</summary>
    public string Location { get; set; } = "";

    /// <summary>How often a serving node broadcasts its beacon. Default 2 s.</summary>
    public TimeSpan BeaconInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A node whose beacons stopped for this many of its intervals is no longer redirected to. Default 3.</summary>
    public int MissedBeacons { get; set; } = 3;

    /// <summary>Answer requests with redirects to live serving nodes on <see cref="RedirectUrls"/>. Default false.</summary>
    public bool Redirect { get; set; }

    /// <summary>Where the redirector answers. Default http://127.0.0.1:9890.</summary>
    public List<string> RedirectUrls { get; set; } = ["http://127.0.0.1:9890"];

    /// <summary>301 (permanent; browsers cache it) or 302 (temporary, the default: nodes come and go).</summary>
    public int RedirectStatus { get; set; } = 302;

    /// <summary>Decoded chunks kept in memory for serving. Default 64 MiB.</summary>
    public long CacheBytes { get; set; } = 64L << 20;

    /// <summary>Requests served at once; more get 503. Default 256.</summary>
    public int MaxConcurrentRequests { get; set; } = 256;

    public List<string> Validate()
    {
        var errors = new List<string>();
        if (!Files.FileSetNames.IsValid(Set)) errors.Add($"Cdn:Set '{Set}' is invalid: {Files.FileSetNames.Rule}.");
        if (Serve) CheckUrls(Urls, "Cdn:Urls", errors);
        if (Redirect) CheckUrls(RedirectUrls, "Cdn:RedirectUrls", errors);
        if (!Serve && !Redirect) errors.Add("Cdn:Serve and Cdn:Redirect are both false: the CDN would do nothing.");
        if (PublicUrl is not null && !IsHttpUrl(PublicUrl, allowPortZero: false)) errors.Add($"Cdn:PublicUrl '{PublicUrl}' is not an http or https URL with a port.");
        if (Location.Length > 64 || Location.Any(char.IsControl)) errors.Add("Cdn:Location must be at most 64 characters, none a control character.");
        if (BeaconInterval < TimeSpan.FromMilliseconds(50) || BeaconInterval > TimeSpan.FromMinutes(10)) errors.Add($"Cdn:BeaconInterval {BeaconInterval} must be between 00:00:00.05 and 00:10:00.");
        if (MissedBeacons is < 1 or > 100) errors.Add($"Cdn:MissedBeacons {MissedBeacons} must be between 1 and 100.");
        if (RedirectStatus is not (301 or 302 or 307 or 308)) errors.Add($"Cdn:RedirectStatus {RedirectStatus} must be 301, 302, 307 or 308.");
        if (CacheBytes is < 0 or > 1L << 40) errors.Add($"Cdn:CacheBytes {CacheBytes} must be between 0 and 1 TiB.");
        if (MaxConcurrentRequests is < 1 or > 100_000) errors.Add($"Cdn:MaxConcurrentRequests {MaxConcurrentRequests} must be between 1 and 100000.");
        return errors;
    }

    private static void CheckUrls(List<string> urls, string name, List<string> errors)
    {
        if (urls.Count == 0) errors.Add($"{name} is empty.");
        foreach (var u in urls)
            if (!IsHttpUrl(u, allowPortZero: true)) errors.Add($"{name} '{u}' is not an http or https URL (e.g. http://127.0.0.1:9880).");
    }

    private static bool IsHttpUrl(string s, bool allowPortZero) =>
        Uri.TryCreate(s.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var u)
        && u.Scheme is "http" or "https" && (allowPortZero || u.Port > 0) && u.AbsolutePath == "/";
}
