using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Dt.Client;

/// <summary>
/// The HTTP plumbing under the remote grains: sends requests with the token, bounds them in time, and turns every
/// failure into a <see cref="DtException"/> carrying the silo's code and message.
/// </summary>
internal sealed class DtApiConnection(HttpClient http, DtClientOptions options)
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private const int ExpectContinueFrom = 8 * 1024;

    public DtClientOptions Options { get; } = options;

    public Uri BaseAddress { get; } = options.BaseAddress;

    public async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken ct = default, bool acceptServiceUnavailable = false)
    {
        using var timeout = Timeout(ct);
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, Url(path)), HttpCompletionOption.ResponseContentRead, timeout.Token, ct);
        if (!(acceptServiceUnavailable && response.StatusCode == HttpStatusCode.ServiceUnavailable && !IsProblem(response)))
            await EnsureSuccessAsync(response, timeout.Token);
        return await ReadAsync(response, type, timeout.Token, ct);
    }

    /// <summary>GET that answers null on a 404 "not_found" problem (an absent object), and fails on any other error.</summary>
    public async Task<T?> GetOrNullAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken ct = default) where T : class
    {
        using var timeout = Timeout(ct);
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, Url(path)), HttpCompletionOption.ResponseContentRead, timeout.Token, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            var error = await ErrorAsync(response, timeout.Token);
            if (error.Code == DtApiErrors.NotFound && IsProblem(response)) return null;
            throw error;
        }
        await EnsureSuccessAsync(response, timeout.Token);
        return await ReadAsync(response, type, timeout.Token, ct);
    }

    public async Task<TResult> PostAsync<TResult>(string path, byte[] body, JsonTypeInfo<TResult> type, string contentType = "application/json", CancellationToken ct = default)
    {
        using var timeout = Timeout(ct);
        var request = new HttpRequestMessage(HttpMethod.Post, Url(path)) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = contentType == "application/json" ? Json : new MediaTypeHeaderValue(contentType);
        // A silo refuses a body over its Silo:MaxBodyBytes from the headers alone; waiting for its "100 Continue"
        // turns that into a clean 413 instead of a connection cut while the body is still being sent.
        if (body.Length > ExpectContinueFrom) request.Headers.ExpectContinue = true;
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token, ct);
        await EnsureSuccessAsync(response, timeout.Token);
        return await ReadAsync(response, type, timeout.Token, ct);
    }

    /// <summary>
    /// POST of a streamed body, bounded by <paramref name="ct"/> only (not the request timeout: a large ingest takes
    /// as long as it takes). An error answer becomes a <see cref="DtException"/> as ever.
    /// </summary>
    public async Task<TResult> PostStreamAsync<TResult>(string path, HttpContent content, JsonTypeInfo<TResult> type, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Url(path)) { Content = content };
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, ct, ct);
        await EnsureSuccessAsync(response, ct);
        return await ReadAsync(response, type, ct, ct);
    }

    /// <summary>A request answered 204 on success; true then, false on a 404 "not_found" problem.</summary>
    public async Task<bool> SendNoContentAsync(HttpMethod method, string path, byte[]? body = null, CancellationToken ct = default)
    {
        using var timeout = Timeout(ct);
        var request = new HttpRequestMessage(method, Url(path));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = Json;
        }
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            var error = await ErrorAsync(response, timeout.Token);
            if (error.Code == DtApiErrors.NotFound && IsProblem(response)) return false;
            throw error;
        }
        await EnsureSuccessAsync(response, timeout.Token);
        return true;
    }

    /// <summary>Any request (a route no grain covers): the answer's JSON read with <paramref name="type"/>, or the
    /// body ignored when it is null. Fails with the silo's error, 404 included.</summary>
    public async Task<T?> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T>? type, CancellationToken ct = default)
    {
        using var timeout = Timeout(ct);
        var request = new HttpRequestMessage(method, Url(path)) { Content = content };
        if (content?.Headers.ContentLength > ExpectContinueFrom) request.Headers.ExpectContinue = true;
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token, ct);
        await EnsureSuccessAsync(response, timeout.Token);
        return type is null ? default : await ReadAsync(response, type, timeout.Token, ct);
    }

    /// <summary>Opens a streamed response (headers read, body not); the caller owns the response.</summary>
    public async Task<HttpResponseMessage> OpenStreamAsync(string path, string accept, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Url(path));
        request.Headers.Accept.ParseAdd(accept);
        // Only the wait for the headers is bounded; the body of a stream may take as long as it takes.
        using var timeout = Timeout(ct);
        var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token, ct);
        try
        {
            await EnsureSuccessAsync(response, timeout.Token);
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken token, CancellationToken callerToken)
    {
        if (Options.ApiToken is { Length: > 0 } apiToken)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiToken);
        try
        {
            return await http.SendAsync(request, completion, token);
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested)
        {
            throw new DtException(DtErrorCodes.Unavailable, $"the Dt silo at {BaseAddress} did not answer within {Options.RequestTimeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(e);
        }
        finally
        {
            request.Dispose();
        }
    }

    public DtException Unreachable(Exception e) =>
        new(DtErrorCodes.Unavailable, $"cannot reach the Dt silo at {BaseAddress}: {Innermost(e).Message}", e);

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken token, CancellationToken callerToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(token);
            return await JsonSerializer.DeserializeAsync(stream, type, token)
                ?? throw new DtException(DtApiErrors.Internal, "the silo answered null");
        }
        catch (JsonException e)
        {
            throw new DtException(DtApiErrors.Internal, $"the silo's answer is not the expected JSON: {e.Message}", e);
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested)
        {
            throw new DtException(DtErrorCodes.Unavailable, "the Dt silo did not finish its answer in time");
        }
        catch (HttpRequestException e)
        {
            throw new DtException(DtErrorCodes.Unavailable, $"the answer of the Dt silo broke off: {e.Message}", e);
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode) throw await ErrorAsync(response, ct);
    }

    /// <summary>The <see cref="DtException"/> an error response stands for: the problem's code and detail when the
    /// silo wrote one, else a code derived from the status.</summary>
    public static async Task<DtException> ErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        string body = "";
        try { body = await response.Content.ReadAsStringAsync(ct); } catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException) { }
        if (IsProblem(response))
        {
            try
            {
                if (JsonSerializer.Deserialize(body, DtJsonContext.Default.DtProblem) is { Code.Length: > 0 } p)
                {
                    var error = new DtException(p.Code, p.Detail);
                    // A refused ingest says what it stored: kept so a caller can resume after it.
                    if (p.Line is { } line) error.Data["line"] = line;
                    if (p.StoredLines is { } lines) error.Data["storedLines"] = lines;
                    if (p.StoredObjects is { } objects) error.Data["storedObjects"] = objects;
                    return error;
                }
            }
            catch (JsonException) { }
        }
        string snippet = body.Length > 200 ? body[..200] + "…" : body;
        return new DtException(DtApiErrors.CodeFor(response.StatusCode),
            $"HTTP {(int)response.StatusCode} {response.ReasonPhrase} from {response.RequestMessage?.RequestUri}{(snippet.Length > 0 ? ": " + snippet : "")}");
    }

    private static bool IsProblem(HttpResponseMessage r) => r.Content.Headers.ContentType?.MediaType == "application/problem+json";

    private CancellationTokenSource Timeout(CancellationToken ct)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(Options.RequestTimeout);
        return cts;
    }

    // Concatenated rather than resolved, so a base address with a path (behind a reverse proxy) keeps it.
    private Uri Url(string path) => new(BaseAddress.AbsoluteUri.TrimEnd('/') + path);

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
