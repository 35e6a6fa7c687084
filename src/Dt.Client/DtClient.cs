using System.Text.Json.Serialization.Metadata;

namespace Dt.Client;

/// <summary>
/// A remote Dt node: the grain factory of a silo, reached over its HTTP API. It gives the same
/// <see cref="INodeGrain"/>, <see cref="ITableGrain"/>, <see cref="IMessageStream"/>, <see cref="IGossipGrain"/> and
/// <see cref="IMapGrain"/> as the in-process node, and
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

    /// <summary>The silo's gossip state, membership and say/hear bus (/v1/state, /v1/say, /v1/hear).</summary>
    public IGossipGrain GetGossip(string key = "local") => new RemoteGossipGrain(key, _api);

    /// <summary>A shared map of the silo's node (/v1/maps/{name}).</summary>
    public IMapGrain GetMap(string name) => new RemoteMapGrain(name, _api);

    /// <summary>The silo's readiness (GET /healthz): true when its node is up and, if it has peers configured, linked.</summary>
    public async Task<HealthReport> GetHealthAsync(CancellationToken cancellationToken = default)
    {
        // A 503 still carries the report (why the silo is not ready), so it is read rather than thrown.
        return await _api.GetAsync(DtApiRoutes.Health, DtJsonContext.Default.HealthReport, cancellationToken, acceptServiceUnavailable: true);
    }

    /// <summary>
    /// Streams NDJSON (one JSON value per line, blank lines skipped) to <c>POST .../objects:ingest</c> as it is read
    /// from <paramref name="ndjson"/>; the silo commits it in chunks and answers once everything is durable. On a
    /// refusal the <see cref="DtException"/> names the line, and its <c>Data</c> holds <c>storedLines</c> and
    /// <c>storedObjects</c>: the first <c>storedLines</c> lines are stored, nothing after them.
    /// </summary>
    public Task<IngestResult> IngestAsync(string table, Stream ndjson, CancellationToken cancellationToken = default)
    {
        TableNames.Require(table);
        var content = new StreamContent(ndjson, 1 << 16);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-ndjson");
        return _api.PostStreamAsync(DtApiRoutes.ObjectsIngest(table), content, DtJsonContext.Default.IngestResult, cancellationToken);
    }

    /// <summary>
    /// Calls a route of the silo's API that the grain interfaces do not cover (the DNS routes under /v1/dns, say)
    /// and reads its JSON answer with <paramref name="resultType"/>: with the token and the request timeout, and
    /// errors as <see cref="DtException"/> with the silo's code and message, like every other call.
    /// <paramref name="pathAndQuery"/> starts with '/' (e.g. "/v1/dns/zones"); escape its parts (<see cref="DtApiRoutes.Segment"/>).
    /// </summary>
    public async Task<T> SendAsync<T>(HttpMethod method, string pathAndQuery, HttpContent? content, JsonTypeInfo<T> resultType, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resultType);
        return (await _api.SendAsync(method, RequirePath(pathAndQuery), content, resultType, cancellationToken))!;
    }

    /// <summary>As <see cref="SendAsync{T}"/>, for a route whose answer has no body worth reading (204).</summary>
    public Task SendAsync(HttpMethod method, string pathAndQuery, HttpContent? content = null, CancellationToken cancellationToken = default) =>
        _api.SendAsync<object>(method, RequirePath(pathAndQuery), content, null, cancellationToken);

    private static string RequirePath(string pathAndQuery)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathAndQuery);
        if (pathAndQuery[0] != '/') throw new ArgumentException($"'{pathAndQuery}' must start with '/'", nameof(pathAndQuery));
        return pathAndQuery;
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
