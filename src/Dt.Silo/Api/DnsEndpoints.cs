using System.Globalization;
using System.Text;
using System.Text.Json;
using Dt.Client;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Dns.Zones;

namespace Dt.Silo.Api;

/// <summary>
/// The DNS routes (/v1/dns), over the node's <see cref="DnsService"/>: zones listed, read, imported from a master file
/// and deleted; records added and removed; world-valid lookups. Changes go through the service's editor, so they are
/// serialized per zone with nsupdate's and the keeper's, and answer once this node serves them. Without the service
/// (Dns:Enabled false) every route answers 404. The `dt dns` commands use these routes.
/// </summary>
internal static class DnsEndpoints
{
    public const string NotEnabled = "DNS is not enabled on this node (Dns:Enabled)";

    /// <summary>Longest world-valid lookup a request may ask for (the client's request timeout is 30 s).</summary>
    private static readonly TimeSpan MaxLookupTimeout = TimeSpan.FromSeconds(20);

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static void MapDnsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet(DtApiRoutes.DnsZones, ListZonesAsync);
        app.MapGet("/v1/dns/zones/{zone}", GetZoneAsync);
        app.MapPut("/v1/dns/zones/{zone}", ImportZoneAsync);
        app.MapDelete("/v1/dns/zones/{zone}", DeleteZoneAsync);
        app.MapPost("/v1/dns/zones/{zone}/records", AddRecordAsync);
        app.MapDelete("/v1/dns/zones/{zone}/records", RemoveRecordAsync);
        app.MapGet(DtApiRoutes.DnsLookup, LookupAsync);
    }

    private static DnsService Dns(HttpContext ctx) =>
        ctx.RequestServices.GetService<DnsService>() ?? throw new DtException(DtApiErrors.NotFound, NotEnabled);

    private static string Zone(HttpContext ctx) => ctx.GetRouteValue("zone") as string ?? "";

    private static async Task ListZonesAsync(HttpContext ctx)
    {
        var zones = await Dns(ctx).Editor.ListZonesAsync(ctx.RequestAborted);
        await ApiEndpoints.WriteAsync(ctx, zones, DnsJsonContext.Default.IReadOnlyListDnsZoneInfo);
    }

    /// <summary>The zone's records in master-file form, one per line ("www.example.test. 300 IN A 192.0.2.1"), the
    /// SOA first with the serial in service: joined by newlines, a zone file PUT takes back.</summary>
    private static async Task GetZoneAsync(HttpContext ctx)
    {
        var dns = Dns(ctx);
        string zone = Zone(ctx);
        var records = await Edit(() => dns.Editor.GetRecordsAsync(zone, ctx.RequestAborted))
                      ?? throw new DtException(DtApiErrors.NotFound, $"zone {ZoneName(zone)} does not exist on this node");
        IReadOnlyList<string> lines = records.Select(r => r.ToString()).ToList();
        await ApiEndpoints.WriteAsync(ctx, lines, DnsJsonContext.Default.IReadOnlyListString);
    }

    private static async Task ImportZoneAsync(HttpContext ctx)
    {
        var dns = Dns(ctx);
        string text = await TextBodyAsync(ctx, "a zone file (RFC 1035 master file)");
        // Not cut short by a client that goes away: a commit is a few writes, bounded by Dns:CommitTimeout.
        var result = await Edit(() => dns.Editor.ImportZoneAsync(Zone(ctx), text, CancellationToken.None));
        await ApiEndpoints.WriteAsync(ctx, result, DnsJsonContext.Default.DnsChangeResult);
    }

    private static async Task DeleteZoneAsync(HttpContext ctx)
    {
        var dns = Dns(ctx);
        string zone = Zone(ctx);
        if (!await Edit(() => dns.Editor.DeleteZoneAsync(zone, CancellationToken.None)))
            throw new DtException(DtApiErrors.NotFound, $"zone {ZoneName(zone)} does not exist on this node");
        ctx.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task AddRecordAsync(HttpContext ctx)
    {
        var dns = Dns(ctx);
        string record = await TextBodyAsync(ctx, "one record, e.g. \"www 300 IN A 192.0.2.1\"");
        var result = await Edit(() => dns.Editor.AddRecordAsync(Zone(ctx), record.Trim(), CancellationToken.None));
        await ApiEndpoints.WriteAsync(ctx, result, DnsJsonContext.Default.DnsChangeResult);
    }

    /// <summary>?record=: "www A 192.0.2.1" (that record), "www A" (the RRset), "www ANY" (the name). 404 when
    /// nothing was removed.</summary>
    private static async Task RemoveRecordAsync(HttpContext ctx)
    {
        var dns = Dns(ctx);
        string zone = Zone(ctx);
        string record = Query(ctx, "record")
                        ?? throw new DtException(DtErrorCodes.InvalidArgument, "the query parameter record is missing: ?record=www%20A (name type [data])");
        var result = await Edit(() => dns.Editor.RemoveRecordAsync(zone, record, CancellationToken.None));
        if (result.Removed == 0)
            throw new DtException(DtApiErrors.NotFound,
                $"zone {result.Zone} holds no record matching '{record}' that may be removed (the SOA and the last apex NS never are)");
        await ApiEndpoints.WriteAsync(ctx, result, DnsJsonContext.Default.DnsChangeResult);
    }

    /// <summary>?name=&amp;type=A&amp;expect=N&amp;timeout=seconds: asks every node's resolver, compares the answers.</summary>
    private static async Task LookupAsync(HttpContext ctx)
    {
        var dns = Dns(ctx);
        string name = Query(ctx, "name") ?? throw new DtException(DtErrorCodes.InvalidArgument, "the query parameter name is missing: ?name=www.example.org&type=A");
        if (!DnsName.TryParse(name.EndsWith('.') ? name : name + ".", null, out _, out string error))
            throw new DtException(DtErrorCodes.InvalidArgument, $"name '{name}' is not a domain name: {error}");
        string type = Query(ctx, "type") ?? "A";
        if (!DnsMnemonics.TryParseType(type, out _))
            throw new DtException(DtErrorCodes.InvalidArgument, $"type '{type}' is not a record type (A, AAAA, MX, TXT, TYPE65280, ...)");

        int? expect = null;
        if (Query(ctx, "expect") is { } e)
        {
            if (!int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n is < 1 or > 100_000)
                throw new DtException(DtErrorCodes.InvalidArgument, $"expect '{e}' must be the number of nodes to wait for, 1 to 100000");
            expect = n;
        }
        TimeSpan? timeout = null;
        if (Query(ctx, "timeout") is { } t)
        {
            if (!double.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double s)
                || s < 0.1 || TimeSpan.FromSeconds(s) > MaxLookupTimeout)
                throw new DtException(DtErrorCodes.InvalidArgument, $"timeout '{t}' must be seconds, 0.1 to {MaxLookupTimeout.TotalSeconds:0}");
            timeout = TimeSpan.FromSeconds(s);
        }
        var report = await Edit(() => dns.Lookup.RunAsync(name, type, expect, timeout, ctx.RequestAborted));
        await ApiEndpoints.WriteAsync(ctx, report, DnsJsonContext.Default.WorldLookupReport);
    }

    private static string? Query(HttpContext ctx, string name) =>
        ctx.Request.Query[name] is { Count: > 0 } v && !string.IsNullOrWhiteSpace(v[0]) ? v[0] : null;

    private static string ZoneName(string zone) => zone.EndsWith('.') ? zone : zone + ".";

    /// <summary>Runs an editor call; text it could not parse (a record, a name) is the caller's error, not the silo's.</summary>
    private static async Task<T> Edit<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (FormatException e)
        {
            throw new DtException(DtErrorCodes.InvalidArgument, e.Message);
        }
    }

    /// <summary>The body as text, within Silo:MaxBodyBytes: UTF-8 (a byte-order mark is skipped), or a JSON string
    /// when the content type is JSON.</summary>
    private static async Task<string> TextBodyAsync(HttpContext ctx, string what)
    {
        var body = await RequestBody.ReadAsync(ctx, ApiEndpoints.BodyLimit(ctx));
        string text;
        if (ctx.Request.ContentType is { } type && type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            using var doc = RequestBody.ParseValue(body);
            if (doc.RootElement.ValueKind != JsonValueKind.String)
                throw new DtException(DtErrorCodes.InvalidArgument, $"the request body is JSON but not a string: send {what} as text (Content-Type: text/plain) or as a JSON string");
            text = doc.RootElement.GetString()!;
        }
        else
        {
            try
            {
                text = StrictUtf8.GetString(body.Span);
            }
            catch (DecoderFallbackException)
            {
                throw new DtException(DtErrorCodes.InvalidArgument, "the request body is not UTF-8 text");
            }
        }
        text = text.TrimStart('\uFEFF');
        if (string.IsNullOrWhiteSpace(text)) throw new DtException(DtErrorCodes.InvalidArgument, $"the request body is empty: send {what}");
        return text;
    }
}
