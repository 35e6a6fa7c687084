using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>
/// Readiness: 200 once the node is up and, when it has peers configured, linked to at least one node ("ready", or
/// "degraded" with the reason while it drops changes from a master it does not trust); 503 (with the reason)
/// otherwise, and while the silo shuts down. Open without a token.
/// </summary>
internal static class HealthEndpoint
{
    public static Task HandleAsync(HttpContext ctx)
    {
        var silo = ctx.RequestServices.GetRequiredService<SiloNode>();
        var stopping = ctx.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested;
        if (!silo.IsAttached)
            return Write(ctx, new HealthReport("starting", "", 0, "the node is not started yet"));
        var node = silo.Node;
        int links = node.LinkCount;
        string id = node.NodeId.ToString();
        if (stopping)
            return Write(ctx, new HealthReport("stopping", id, links, "the silo is shutting down"));
        if (node.Options.Peers.Count > 0 && links == 0)
            return Write(ctx, new HealthReport("unlinked", id, 0, "no link to any node yet (Dt:Peers: " + string.Join(", ", node.Options.Peers) + ")"));
        // Serving, but an operator must act: changes from a master this node does not trust are being dropped.
        if (node.TrustWarnings() is { Count: > 0 } warnings)
            return Write(ctx, new HealthReport("degraded", id, links, string.Join(" ", warnings)));
        return Write(ctx, new HealthReport("ready", id, links));
    }

    private static Task Write(HttpContext ctx, HealthReport report)
    {
        ctx.Response.Headers.CacheControl = "no-store";
        // Degraded still serves (200): restarting it would not help, and its readers still get what it holds.
        int status = report.Status is "ready" or "degraded" ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        return ApiEndpoints.WriteAsync(ctx, report, DtJsonContext.Default.HealthReport, status);
    }
}
