using Microsoft.Extensions.Logging;

namespace Dt.Client;

/// <summary>How a <see cref="DtClient"/> reaches its silo.</summary>
public sealed class DtClientOptions
{
    /// <summary>Default address of a silo's HTTP API (the silo's own default).</summary>
    public static readonly Uri DefaultBaseAddress = new("http://127.0.0.1:9780");

    /// <summary>Base URL of the silo's HTTP API. Default http://127.0.0.1:9780.</summary>
    public Uri BaseAddress { get; set; } = DefaultBaseAddress;

    /// <summary>The silo's API token (Silo:ApiToken), sent as a bearer token; null when the silo has none.</summary>
    public string? ApiToken { get; set; }

    /// <summary>Longest wait for one request (not for streams). Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>First delay before an event stream reconnects; doubles per failed attempt. Default 100 ms.</summary>
    public TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest delay between reconnect attempts of an event stream. Default 5 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>An event stream that receives nothing (not even the silo's keep-alive, every 15 s) for this long is
    /// treated as dropped and reconnected. Default 45 s.</summary>
    public TimeSpan EventIdleTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>Where reconnects of event streams are logged; null logs nothing.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }
}
