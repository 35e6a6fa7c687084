using System.Buffers;
using System.Text.Json;
using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>Objects of a table: list, get, add (one or a batch), remove.</summary>
internal static class ObjectEndpoints
{
    /// <summary>Every object as {hash, value}: a JSON array, or NDJSON when asked (Accept: application/x-ndjson or
    /// ?format=ndjson). Written as it is read, so a large table is never one document in memory.</summary>
    public static async Task ListAsync(HttpContext ctx)
    {
        var table = ApiEndpoints.Table(ctx);
        bool ndjson = ctx.Request.Query["format"] == "ndjson"
                      || ctx.Request.Headers.Accept.ToString().Contains("ndjson", StringComparison.OrdinalIgnoreCase);
        ctx.Response.ContentType = ndjson ? "application/x-ndjson" : "application/json; charset=utf-8";
        var pipe = ctx.Response.BodyWriter;
        await using var json = new Utf8JsonWriter(pipe);
        if (!ndjson) json.WriteStartArray();
        await foreach (var record in table.ListObjects(ctx.RequestAborted))
        {
            if (ndjson) json.Reset(pipe);
            JsonSerializer.Serialize(json, record, DtJsonContext.Default.ObjectRecord);
            if (ndjson)
            {
                json.Flush();
                pipe.Write("\n"u8);
            }
            if (json.BytesPending + pipe.UnflushedBytes > 64 * 1024)
            {
                json.Flush();
                await pipe.FlushAsync(ctx.RequestAborted);
            }
        }
        if (!ndjson) json.WriteEndArray();
        json.Flush();
        await pipe.FlushAsync(ctx.RequestAborted);
    }

    public static async Task GetAsync(HttpContext ctx)
    {
        var table = ApiEndpoints.Table(ctx);
        string hash = ApiEndpoints.Hash(ctx);
        var record = await table.GetObject(hash);
        if (record is null)
            throw new DtException(DtApiErrors.NotFound, $"table '{ApiEndpoints.TableName(ctx)}' holds no object {hash}");
        await ApiEndpoints.WriteAsync(ctx, record, DtJsonContext.Default.ObjectRecord);
    }

    public static async Task AddAsync(HttpContext ctx)
    {
        var table = ApiEndpoints.Table(ctx);
        var body = await RequestBody.ReadAsync(ctx, ApiEndpoints.BodyLimit(ctx));
        using var doc = RequestBody.ParseValue(body);
        string hash = await table.AddObject(doc.RootElement);
        ctx.Response.Headers.Location = DtApiRoutes.Object(ApiEndpoints.TableName(ctx), hash);
        await ApiEndpoints.WriteAsync(ctx, new HashResult(hash), DtJsonContext.Default.HashResult, StatusCodes.Status201Created);
    }

    /// <summary>A whole body (within Silo:MaxBodyBytes) as one change: every value is checked before anything is
    /// added, so a bad one leaves the table as it was. Canonicalized straight from the body's bytes.</summary>
    public static async Task AddBatchAsync(HttpContext ctx)
    {
        string table = ApiEndpoints.TableName(ctx);
        TableNames.Require(table);
        var node = ApiEndpoints.DtNode(ctx);
        var body = await RequestBody.ReadAsync(ctx, ApiEndpoints.BodyLimit(ctx));
        var batch = node.CreateBatch();
        RequestBody.ParseMany(body, ctx.Request.ContentType, batch);
        var hashes = node.AddObjects(table, batch);
        await node.WhenDurable();
        await ApiEndpoints.WriteAsync(ctx, new HashesResult(hashes), DtJsonContext.Default.HashesResult);
    }

    public static async Task RemoveAsync(HttpContext ctx)
    {
        var table = ApiEndpoints.Table(ctx);
        string hash = ApiEndpoints.Hash(ctx);
        if (!await table.RemoveObject(hash))
            throw new DtException(DtApiErrors.NotFound, $"table '{ApiEndpoints.TableName(ctx)}' holds no object {hash}");
        ctx.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    public static async Task RemoveByValueAsync(HttpContext ctx)
    {
        var table = ApiEndpoints.Table(ctx);
        var body = await RequestBody.ReadAsync(ctx, ApiEndpoints.BodyLimit(ctx));
        using var doc = RequestBody.ParseValue(body);
        if (!await table.RemoveObjectByValue(doc.RootElement))
            throw new DtException(DtApiErrors.NotFound, $"table '{ApiEndpoints.TableName(ctx)}' holds no object equal to the one given");
        ctx.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}
