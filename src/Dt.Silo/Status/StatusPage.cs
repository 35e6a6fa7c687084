using System.Security.Cryptography;
using System.Text;

namespace Dt.Silo.Status;

/// <summary>
/// The status page at <c>/</c> and <c>/status</c>: one self-contained HTML page (status.html, embedded in this
/// assembly; inline CSS and JS, nothing fetched from elsewhere) that reads the node, its links, tables, gossip
/// members and counters from <c>/v1</c> and follows <c>/v1/events</c>. The page holds no data, so it is served
/// without the API token; everything it shows comes from the guarded <c>/v1</c> routes, with the token the page asks
/// for when the silo has one.
/// </summary>
internal static class StatusPage
{
    public const string ResourceName = "Dt.Silo.Status.status.html";

    public static void MapStatusPage(this IEndpointRouteBuilder app)
    {
        var page = Load();
        string[] methods = [HttpMethods.Get, HttpMethods.Head];
        app.MapMethods("/", methods, ctx => page.WriteAsync(ctx));
        app.MapMethods("/status", methods, ctx => page.WriteAsync(ctx));
    }

    /// <summary>The page and the Content-Security-Policy that lets exactly its one inline script and one inline
    /// style run (by their SHA-256), lets it call only its own origin, and nothing else.</summary>
    internal sealed record Content(byte[] Html, string Policy)
    {
        public Task WriteAsync(HttpContext ctx)
        {
            var response = ctx.Response;
            response.ContentType = "text/html; charset=utf-8";
            response.ContentLength = Html.Length;
            var headers = response.Headers;
            headers.CacheControl = "no-store";
            headers.ContentSecurityPolicy = Policy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            return HttpMethods.IsHead(ctx.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(Html, ctx.RequestAborted).AsTask();
        }
    }

    internal static Content Load()
    {
        using var stream = typeof(StatusPage).Assembly.GetManifestResourceStream(ResourceName)
                           ?? throw new InvalidOperationException($"the status page ({ResourceName}) is not embedded in {typeof(StatusPage).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        // Browsers hash an inline element's text after turning CRLF into LF; a checkout with CRLF must hash the same.
        string html = reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
        string policy = string.Join("; ",
            "default-src 'none'",
            $"script-src '{Hash(html, "script")}'",
            $"style-src '{Hash(html, "style")}'",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'");
        return new Content(Encoding.UTF8.GetBytes(html), policy);
    }

    /// <summary>The CSP source of the page's one inline &lt;tag&gt; element: sha256- and the Base64 SHA-256 of its text.</summary>
    private static string Hash(string html, string tag)
    {
        string open = $"<{tag}>", close = $"</{tag}>";
        int start = html.IndexOf(open, StringComparison.Ordinal);
        int end = start < 0 ? -1 : html.IndexOf(close, start, StringComparison.Ordinal);
        if (start < 0 || end < 0 || html.IndexOf(open, end, StringComparison.Ordinal) >= 0)
            throw new InvalidOperationException($"the status page must hold exactly one {open} element");
        string body = html[(start + open.Length)..end];
        return "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
    }
}
