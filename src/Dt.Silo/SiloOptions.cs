namespace Dt.Silo;

/// <summary>
/// The silo's own settings (section "Silo"); the node's are <see cref="Dt.Hosting.DtOptions"/> (section "Dt").
/// Every default is stated here; <see cref="Validate"/> names each bad setting.
/// </summary>
public sealed class SiloOptions
{
    public const string Section = "Silo";

    /// <summary>Shortest API token accepted: a guessable token would make the bind check pointless.</summary>
    public const int MinTokenLength = 16;

    /// <summary>Bearer token every /v1 request must carry. Optional while the API listens on loopback only; required
    /// to listen on any other address. Default none.</summary>
    public string? ApiToken { get; set; }

    /// <summary>Largest request body; larger ones get 413 before they are buffered. Default 4 MiB.</summary>
    public long MaxBodyBytes { get; set; } = 4L << 20;

    /// <summary>Largest body of a streamed NDJSON ingest (<c>POST .../objects:ingest</c>), which is read line by line
    /// and never held whole. Default 1 GiB.</summary>
    public long MaxIngestBytes { get; set; } = 1L << 30;

    /// <summary>Interval of keep-alive comments on idle event streams (proxies and clients then know the stream is alive). Default 15 s.</summary>
    public TimeSpan EventKeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Serve the Orleans Dashboard under /dashboard, behind the same guard as /v1 (loopback only without a
    /// token, the token otherwise). Default true.</summary>
    public bool Dashboard { get; set; } = true;

    /// <summary>What the silo publishes to the Orleans streams of DtStreams: <c>None</c>, <c>NodeEvents</c> (broadcast
    /// messages and the node's events but the per-object ones) or <c>AllEvents</c> (also every object added and
    /// removed, at a cost to ingest). Default NodeEvents.</summary>
    public Dt.Grains.Hosting.DtStreamEvents OrleansStreams { get; set; } = Dt.Grains.Hosting.DtStreamEvents.NodeEvents;

    public List<string> Validate()
    {
        var errors = new List<string>();
        if (ApiToken is not null && (ApiToken.Length < MinTokenLength || ApiToken.Any(char.IsWhiteSpace)))
            errors.Add($"Silo:ApiToken must be at least {MinTokenLength} characters without spaces (e.g. from `openssl rand -base64 32`).");
        if (MaxBodyBytes < 1024 || MaxBodyBytes > 1L << 30)
            errors.Add($"Silo:MaxBodyBytes {MaxBodyBytes} must be between 1024 and 1073741824 (1 GiB).");
        if (MaxIngestBytes < 1024 || MaxIngestBytes > 1L << 40)
            errors.Add($"Silo:MaxIngestBytes {MaxIngestBytes} must be between 1024 and 1099511627776 (1 TiB).");
        if (EventKeepAlive < TimeSpan.FromMilliseconds(100) || EventKeepAlive > TimeSpan.FromMinutes(10))
            errors.Add($"Silo:EventKeepAlive {EventKeepAlive} must be between 00:00:00.1 and 00:10:00.");
        return errors;
    }
}
