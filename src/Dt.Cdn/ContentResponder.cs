using Dt.Files;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Dt.Cdn;

/// <summary>
/// Answers GET and HEAD for a path of the served set: content type from the extension, a strong ETag from the file's
/// SHA-256, Last-Modified from its time, 304 for a matching If-None-Match, one byte range (206, or 416 when it lies
/// past the end; several ranges get the whole file), If-Range. "dir/" serves "dir/index.html".
/// </summary>
internal sealed class ContentResponder(ContentIndex index, ChunkCache chunks, ILogger log)
{
    private static readonly FileExtensionContentTypeProvider Types = new();
    private long _requests;

    /// <summary>Requests answered so far (the beacons' load is the rate of this).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    public async Task HandleAsync(HttpContext http)
    {
        Interlocked.Increment(ref _requests);
        var request = http.Request;
        var response = http.Response;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return;
        }
        string path = request.Path.Value is { Length: > 1 } p ? p[1..] : "";
        if (path.Length == 0 || path.EndsWith('/')) path += "index.html";
        if (index.Find(path) is not { } entry)
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            response.ContentType = "text/plain; charset=utf-8";
            await response.WriteAsync($"not found: /{path}\n");
            return;
        }
        var m = entry.Manifest;
        var etag = new EntityTagHeaderValue($"\"{m.Sha256}\"");
        var headers = response.GetTypedHeaders();
        headers.ETag = etag;
        headers.LastModified = m.Modified;
        response.Headers.AcceptRanges = "bytes";
        response.ContentType = Types.TryGetContentType(m.Path, out var type) ? type : "application/octet-stream";

        var typed = request.GetTypedHeaders();
        if (typed.IfNoneMatch is { Count: > 0 } inm && inm.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(etag, useStrongComparison: false)))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        long start = 0, end = m.Size - 1;
        bool ranged = typed.Range is { Ranges.Count: 1 } range && range.Unit.Equals("bytes", StringComparison.OrdinalIgnoreCase)
                      && (typed.IfRange is null || typed.IfRange.EntityTag?.Compare(etag, useStrongComparison: true) == true);
        if (ranged)
        {
            var r = typed.Range!.Ranges.Single();
            if (r.From is { } from)
            {
                start = from;
                end = r.To is { } to ? Math.Min(to, m.Size - 1) : m.Size - 1;
            }
            else if (r.To is { } suffix)
            {
                start = Math.Max(0, m.Size - suffix);
            }
            if (start >= m.Size || start > end || (r.From is null && r.To is 0))
            {
                response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                headers.ContentRange = new ContentRangeHeaderValue(m.Size);
                return;
            }
            response.StatusCode = StatusCodes.Status206PartialContent;
            headers.ContentRange = new ContentRangeHeaderValue(start, end, m.Size);
        }
        response.ContentLength = m.Size == 0 ? 0 : end - start + 1;
        if (HttpMethods.IsHead(request.Method) || m.Size == 0) return;
        try
        {
            m = await index.ChunksOfAsync(entry, http.RequestAborted);
        }
        catch (FileSyncException e)
        {
            CdnLog.ServeFailed(log, m.Path, e.Message);
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            response.ContentLength = null;
            response.Headers.RetryAfter = "1";
            return;
        }
        await WriteAsync(http, m, start, end);
    }

    /// <summary>Writes bytes [start, end] from the chunks that hold them, fetching the next chunk while one is sent.</summary>
    private async Task WriteAsync(HttpContext http, FileManifest m, long start, long end)
    {
        var ct = http.RequestAborted;
        long offset = 0;
        Task<byte[]>? next = null;
        var wanted = new List<(ChunkRef Chunk, long Offset)>();
        foreach (var c in m.Chunks)
        {
            if (offset + c.Size > start && offset <= end) wanted.Add((c, offset));
            offset += c.Size;
        }
        try
        {
            for (int i = 0; i < wanted.Count; i++)
            {
                var (chunk, at) = wanted[i];
                var bytes = await (next ?? chunks.GetAsync(chunk, ct));
                next = i + 1 < wanted.Count ? chunks.GetAsync(wanted[i + 1].Chunk, ct) : null;
                int from = (int)Math.Max(0, start - at), to = (int)Math.Min(chunk.Size - 1, end - at);
                await http.Response.Body.WriteAsync(bytes.AsMemory(from, to - from + 1), ct);
            }
        }
        catch (FileSyncException e)
        {
            // Headers are sent: cutting the response short is how the client learns it is incomplete.
            CdnLog.ServeFailed(log, m.Path, e.Message);
            http.Abort();
        }
        finally
        {
            if (next is not null) try { await next; } catch (Exception) { /* only the prefetch of an aborted response */ }
        }
    }
}
