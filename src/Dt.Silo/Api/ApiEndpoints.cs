using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Dt.Client;
using Dt.Silo.Status;

namespace Dt.Silo.Api;

/// <summary>The routes of the HTTP API (docs/API.md describes each).</summary>
internal static class ApiEndpoints
{
    public static void MapDtApi(this IEndpointRouteBuilder app)
    {
        app.MapGet(DtApiRoutes.Health, HealthEndpoint.HandleAsync);
        app.MapGet(DtApiRoutes.Node, ctx => WriteAsync(ctx, Node(ctx).GetNode().GetInfo(), DtJsonContext.Default.NodeInfo));
        app.MapGet(DtApiRoutes.Tables, ctx => WriteAsync(ctx, Node(ctx).GetNode().GetTables(), DtJsonContext.Default.IReadOnlyListTableSummary));
        app.MapGet("/v1/tables/{table}", ctx => WriteAsync(ctx, Table(ctx).GetSummary(), DtJsonContext.Default.TableSummary));
        app.MapGet("/v1/tables/{table}/objects", ObjectEndpoints.ListAsync);
        app.MapPost("/v1/tables/{table}/objects", ObjectEndpoints.AddAsync);
        app.MapPost("/v1/tables/{table}/objects:batch", ObjectEndpoints.AddBatchAsync);
        app.MapPost("/v1/tables/{table}/objects:ingest", IngestEndpoint.HandleAsync);
        app.MapPost("/v1/tables/{table}/objects:remove", ObjectEndpoints.RemoveByValueAsync);
        app.MapGet("/v1/tables/{table}/objects/{hash}", ObjectEndpoints.GetAsync);
        app.MapDelete("/v1/tables/{table}/objects/{hash}", ObjectEndpoints.RemoveAsync);
        app.MapPost(DtApiRoutes.Messages, MessageEndpoints.SendAsync);
        app.MapGet(DtApiRoutes.Events, ctx => ctx.RequestServices.GetRequiredService<EventStreamEndpoint>().HandleAsync(ctx));
        app.MapGossipApi();
        app.MapDnsApi();
        app.MapStatusPage();
    }

    public static IDtGrainFactory Node(HttpContext ctx) => DtNode(ctx);

    /// <summary>The node itself, for the bulk paths that go past the grain interfaces to the engine's batch.</summary>
    public static Dt.Hosting.DtNode DtNode(HttpContext ctx) => ctx.RequestServices.GetRequiredService<SiloNode>().Node;

    /// <summary>The table grain named by the route; the grain refuses bad names with invalid_argument (400).</summary>
    public static ITableGrain Table(HttpContext ctx) => Node(ctx).GetTable(TableName(ctx));

    /// <summary>The {table} route value. Table names may hold '/', which travels as %2F and is the one escape
    /// ASP.NET Core leaves undecoded in a path.</summary>
    public static string TableName(HttpContext ctx) =>
        (ctx.GetRouteValue("table") as string ?? "").Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    public static string Hash(HttpContext ctx) => ctx.GetRouteValue("hash") as string ?? "";

    public static async Task WriteAsync<T>(HttpContext ctx, Task<T> value, JsonTypeInfo<T> type, int status = StatusCodes.Status200OK) =>
        await WriteAsync(ctx, await value, type, status);

    public static async Task WriteAsync<T>(HttpContext ctx, T value, JsonTypeInfo<T> type, int status = StatusCodes.Status200OK)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, value, type, ctx.RequestAborted);
    }

    public static long BodyLimit(HttpContext ctx) => ctx.RequestServices.GetRequiredService<SiloOptions>().MaxBodyBytes;
}
