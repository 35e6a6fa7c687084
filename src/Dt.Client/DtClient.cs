namespace Dt.Client;

/// <summary>
/// A remote Dt node: the grain factory of a silo, reached over its HTTP API. It gives the same
/// <see cref="INodeGrain"/>, <see cref="ITableGrain"/> and <see cref="IMessageStream"/> as the in-process node, and
/// errors come back as <see cref="DtException"/> with the silo's code and message, so code written against
/// <see cref="IDtGrainFactory"/> runs unchanged either way. Thread-safe; make one per silo and share it.
/// </summary>
public sealed class DtClient : IDtGrainFactory, IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly DtApiConnection _api;

    /// <summary>A client of the silo at <paramref name="baseAddress"/> (e.g. "http://127.0.0.1:9780").</summary>
    public DtClient(string baseAddress, string? apiToken = null)
        : this(new DtClientOptions { BaseAddress = ParseBaseAddress(baseAddress), ApiToken = apiToken })
    {
    }

    public DtClient(DtClientOptions options)
        : this(new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) }), options, ownsHttpClient: true)
    {
    }

    /// <summary>A client over a given <see cref="HttpClient"/> (from IHttpClientFactory, or with a test handler).
    /// Its own timeout should be infinite: event streams last, and requests are bounded by <see cref="DtClientOptions.RequestTimeout"/>.</summary>
    public DtClient(HttpClient http, DtClientOptions options, bool ownsHttpClient = false)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        _http = http;
        _ownsHttp = ownsHttpClient;
        if (ownsHttpClient) _http.Timeout = Timeout.InfiniteTimeSpan;
        _api = new DtApiConnection(http, options);
    }

    public Uri BaseAddress => _api.BaseAddress;

    public INodeGrain GetNode(string key = "local") => new RemoteNodeGrain(key, _api);

    public ITableGrain GetTable(string table = "default") => new RemoteTableGrain(table, _api);

    public IMessageStream GetMessageStream(string key = "default") => new RemoteMessageStream(key, _api);

    /// <summary>The silo's readiness (GET /healthz): true when its node is up and, if it has peers configured, linked.</summary>
    public async Task<HealthReport> GetHealthAsync(CancellationToken cancellationToken = default)
    {
        // A 503 still carries the report (why the silo is not ready), so it is read rather than thrown.
        return await _api.GetAsync(DtApiRoutes.Health, DtJsonContext.Default.HealthReport, cancellationToken, acceptServiceUnavailable: true);
    }

    /// <summary>Parses a base address, accepting "host:port" as shorthand for http://host:port.</summary>
    public static Uri ParseBaseAddress(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        string v = value.Trim();
        if (!v.Contains("://", StringComparison.Ordinal)) v = "http://" + v;
        if (!Uri.TryCreate(v, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new DtException(DtErrorCodes.InvalidArgument, $"'{value}' is not an http:// or https:// URL of a Dt silo");
        return uri;
    }

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }
}
