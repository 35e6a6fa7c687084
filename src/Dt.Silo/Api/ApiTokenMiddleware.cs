using System.Net;
using System.Security.Cryptography;
using System.Text;
using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>
/// Guards /v1, the Orleans Dashboard (/dashboard) and the Prometheus metrics (/metrics): with Silo:ApiToken set, every request needs "Authorization: Bearer &lt;token&gt;" (compared in constant
/// time); without a token, only requests that arrived on a loopback address are served, a second line of defence
/// behind the start-up check of the URLs. /healthz stays open for load balancers and orchestrators.
/// </summary>
internal sealed class ApiTokenMiddleware(RequestDelegate next, SiloOptions options, ILogger<ApiTokenMiddleware> log)
{
    private readonly byte[]? _tokenHash = options.ApiToken is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiToken));

    public Task InvokeAsync(HttpContext ctx)
    {
        if (!IsGuarded(ctx.Request.Path)) return next(ctx);
        if (_tokenHash is null)
        {
            var local = ctx.Connection.LocalIpAddress;
            if (local is null || IPAddress.IsLoopback(local)) return next(ctx);
            SiloLog.NotLoopback(log, ctx.Request.Method, ctx.Request.Path, local.ToString());
            return Problems.WriteAsync(ctx, DtApiErrors.Unauthorized, "this silo serves its API on loopback only; set Silo:ApiToken to serve other addresses");
        }
        if (Matches(ctx.Request.Headers.Authorization.ToString())) return next(ctx);
        SiloLog.Unauthorized(log, ctx.Request.Method, ctx.Request.Path, ctx.Connection.RemoteIpAddress?.ToString() ?? "?");
        ctx.Response.Headers.WWWAuthenticate = "Bearer";
        return Problems.WriteAsync(ctx, DtApiErrors.Unauthorized, "this silo needs its API token: send \"Authorization: Bearer <Silo:ApiToken>\" (dt: --token or DT_TOKEN)");
    }

    /// <summary>/v1, the dashboard and /metrics (a Prometheus scraper sends the token: <c>authorization: {credentials: ...}</c>).</summary>
    private static bool IsGuarded(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments("/dashboard") || path.StartsWithSegments(DtApiRoutes.Metrics);

    private bool Matches(string header)
    {
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) return false;
        // Hashing first makes the comparison constant-time in the token's length as well as its content.
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[prefix.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, _tokenHash);
    }
}
