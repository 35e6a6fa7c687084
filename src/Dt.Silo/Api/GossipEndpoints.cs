using System.Globalization;
using System.Text.Json;
using Dt.Client;
using Dt.Gossip;

namespace Dt.Silo.Api;

/// <summary>
/// The gossip routes over the node's <see cref="IGossipGrain"/> and <see cref="IMapGrain"/>s: node state
/// (/v1/state), membership (/v1/state/peers), the say/hear event bus (/v1/say, /v1/hear) and shared maps
/// (/v1/maps/{name}). The streams (/v1/hear, /v1/maps/{name}/watch) are /v1/events narrowed to their events, with the
/// same ids, resume and keep-alives. Keys, peers, events and maps travel as one path segment each ("/" as %2F).
/// </summary>
internal static class GossipEndpoints
{
    public static void MapGossipApi(this IEndpointRouteBuilder app)
    {
        app.MapGet(DtApiRoutes.State, GetStateAsync);
        app.MapGet(DtApiRoutes.StatePeers, GetPeersAsync);
        app.MapGet("/v1/state/peers/{peer}", GetPeerEntriesAsync);
        app.MapGet("/v1/state/peers/{peer}/keys", GetPeerKeysAsync);
        app.MapGet("/v1/state/peers/{peer}/{key}", GetPeerKeyAsync);
        app.MapGet("/v1/state/{key}", GetKeyAsync);
        app.MapPut("/v1/state/{key}", SetKeyAsync);
        app.MapDelete("/v1/state/{key}", DeleteKeyAsync);
        app.MapPost("/v1/say/{event}", SayAsync);
        app.MapGet(DtApiRoutes.Hear, HearAsync);
        app.MapGet(DtApiRoutes.HearLasting, HearLastingAsync);
        app.MapGet("/v1/maps/{map}", GetMapAsync);
        app.MapGet("/v1/maps/{map}/watch", WatchMapAsync);
        app.MapGet("/v1/maps/{map}/{key}", GetMapKeyAsync);
        app.MapPut("/v1/maps/{map}/{key}", SetMapKeyAsync);
        app.MapDelete("/v1/maps/{map}/{key}", DeleteMapKeyAsync);
    }

    private static IGossipGrain Gossip(HttpContext ctx) => ApiEndpoints.Node(ctx).GetGossip();

    private static IMapGrain Map(HttpContext ctx) => ApiEndpoints.Node(ctx).GetMap(Route(ctx, "map"));

    /// <summary>A route value, with "%2F" (the one escape ASP.NET Core leaves in a path) decoded.</summary>
    private static string Route(HttpContext ctx, string name) =>
        (ctx.GetRouteValue(name) as string ?? "").Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    private static string? Query(HttpContext ctx, string name) =>
        ctx.Request.Query[name] is { Count: > 0 } v && !string.IsNullOrEmpty(v[0]) ? v[0] : null;

    private static long? Milliseconds(HttpContext ctx, string name)
    {
        if (Query(ctx, name) is not { } text) return null;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long ms) || ms <= 0)
            throw new DtException(DtErrorCodes.InvalidArgument, $"{name} '{text}' must be a positive whole number of milliseconds");
        return ms;
    }

    private static bool Flag(HttpContext ctx, string name)
    {
        if (Query(ctx, name) is not { } text) return false;
        if (!bool.TryParse(text, out bool value)) throw new DtException(DtErrorCodes.InvalidArgument, $"{name} '{text}' must be true or false");
        return value;
    }

    // ---- node state ------------------------------------------------------------------------------------------------

    private static async Task GetStateAsync(HttpContext ctx)
    {
        var gossip = Gossip(ctx);
        var state = new GossipState(await gossip.GetInfo(), await gossip.GetAll());
        await ApiEndpoints.WriteAsync(ctx, state, DtJsonContext.Default.GossipState);
    }

    private static async Task GetKeyAsync(HttpContext ctx)
    {
        string key = Route(ctx, "key");
        var entry = await Gossip(ctx).Get(key) ?? throw new DtException(DtApiErrors.NotFound, $"this node holds no key '{key}'");
        await ApiEndpoints.WriteAsync(ctx, entry, DtJsonContext.Default.StateEntry);
    }

    private static async Task SetKeyAsync(HttpContext ctx)
    {
        string key = Route(ctx, "key");
        long? ttl = Milliseconds(ctx, "ttl");
        var body = await RequestBody.ReadAsync(ctx, ApiEndpoints.BodyLimit(ctx));
        using var doc = RequestBody.ParseValue(body);
        long version = await Gossip(ctx).Set(key, doc.RootElement, ttl);
        await ApiEndpoints.WriteAsync(ctx, new StateSetResult(key, version), DtJsonContext.Default.StateSetResult);
    }

    private static async Task DeleteKeyAsync(HttpContext ctx)
    {
        string key = Route(ctx, "key");
        if (!await Gossip(ctx).Delete(key)) throw new DtException(DtApiErrors.NotFound, $"this node holds no key '{key}'");
        ctx.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    // ---- membership ------------------------------------------------------------------------------------------------

    private static async Task GetPeersAsync(HttpContext ctx)
    {
        var gossip = Gossip(ctx);
        var peers = Query(ctx, "filter") switch
        {
            null or "all" => await gossip.AllPeers(),
            "live" => await gossip.LivePeers(),
            "dead" => await gossip.DeadPeers(),
            var other => throw new DtException(DtErrorCodes.InvalidArgument, $"filter '{other}' must be all, live or dead"),
        };
        await ApiEndpoints.WriteAsync(ctx, peers, DtJsonContext.Default.IReadOnlyListGossipPeer);
    }

    private static async Task GetPeerEntriesAsync(HttpContext ctx) =>
        await ApiEndpoints.WriteAsync(ctx, await Gossip(ctx).GetRemoteEntries(Route(ctx, "peer")), DtJsonContext.Default.IReadOnlyListStateEntry);

    private static async Task GetPeerKeysAsync(HttpContext ctx) =>
        await ApiEndpoints.WriteAsync(ctx, await Gossip(ctx).GetRemoteKeys(Route(ctx, "peer")), DtJsonContext.Default.IReadOnlyListString);

    private static async Task GetPeerKeyAsync(HttpContext ctx)
    {
        string peer = Route(ctx, "peer"), key = Route(ctx, "key");
        var entry = await Gossip(ctx).GetRemote(peer, key)
                    ?? throw new DtException(DtApiErrors.NotFound, $"this node knows no key '{key}' of peer '{peer}'");
        await ApiEndpoints.WriteAsync(ctx, entry, DtJsonContext.Default.StateEntry);
    }

    // ---- event bus -------------------------------------------------------------------------------------------------

    private static async Task SayAsync(HttpContext ctx)
    {
        string name = Route(ctx, "event");
        long? duration = Milliseconds(ctx, "duration");
        var body = await RequestBody.ReadAsync(ctx, ApiEndpoints.BodyLimit(ctx));
        using var doc = RequestBody.ParseValue(body);
        string id = await Gossip(ctx).Say(name, doc.RootElement, duration);
        await ApiEndpoints.WriteAsync(ctx, new SayResult(id), DtJsonContext.Default.SayResult);
    }

    /// <summary>GET /v1/hear?pattern=&amp;includeOwn=&amp;existing=: the said events whose name matches, as a
    /// /v1/events stream; existing=true first sends the events still lasting here (id 0).</summary>
    private static async Task HearAsync(HttpContext ctx)
    {
        string pattern = Query(ctx, "pattern") ?? "*";
        if (!Glob.IsValid(pattern))
            throw new DtException(DtErrorCodes.InvalidArgument, $"pattern must be 1 to {Glob.MaxPatternLength} characters without control characters");
        var request = new HearRequest(pattern, Flag(ctx, "includeOwn"));
        var gossip = Gossip(ctx);
        string own = (await gossip.GetInfo()).Name;
        var filter = new EventStreamEndpoint.Filter(
            ev => ev.Type == GossipEventTypes.Say && RemoteGossipGrain.ToSaid(ev) is { } said && request.Hears(said, own),
            async (sse, ct) =>
            {
                foreach (var said in await gossip.GetLasting(request))
                {
                    var value = JsonSerializer.SerializeToElement(said, DtJsonContext.Default.SaidEvent);
                    sse.Event(new DtEvent(0, GossipEventTypes.Say, DateTimeOffset.UtcNow, Value: value, Origin: said.Origin));
                    if (sse.ShouldFlush) await sse.FlushAsync(ct);
                }
            });
        await ctx.RequestServices.GetRequiredService<EventStreamEndpoint>().HandleAsync(ctx, filter);
    }

    /// <summary>GET /v1/hear/lasting?pattern=&amp;includeOwn=: the said events still lasting here, as a JSON array.</summary>
    private static async Task HearLastingAsync(HttpContext ctx)
    {
        string pattern = Query(ctx, "pattern") ?? "*";
        if (!Glob.IsValid(pattern))
            throw new DtException(DtErrorCodes.InvalidArgument, $"pattern must be 1 to {Glob.MaxPatternLength} characters without control characters");
        var lasting = await Gossip(ctx).GetLasting(new HearRequest(pattern, Flag(ctx, "includeOwn")));
        await ApiEndpoints.WriteAsync(ctx, lasting.ToArray(), DtJsonContext.Default.SaidEventArray);
    }

    // ---- shared maps -----------------------------------------------------------------------------------------------

    private static async Task GetMapAsync(HttpContext ctx)
    {
        var map = Map(ctx);
        var entries = new List<MapEntry>();
        await foreach (var e in map.List(ctx.RequestAborted)) entries.Add(e);
        await ApiEndpoints.WriteAsync(ctx, new MapState(await map.GetInfo(), entries), DtJsonContext.Default.MapState);
    }

    private static async Task GetMapKeyAsync(HttpContext ctx)
    {
        var map = Map(ctx);
        string key = Route(ctx, "key");
        var entry = await map.Get(key) ?? throw new DtException(DtApiErrors.NotFound, $"map '{Route(ctx, "map")}' holds no key '{key}' here");
        await ApiEndpoints.WriteAsync(ctx, entry, DtJsonContext.Default.MapEntry);
    }

    private static async Task SetMapKeyAsync(HttpContext ctx)
    {
        var map = Map(ctx);
        var body = await RequestBody.ReadAsync(ctx, ApiEndpoints.BodyLimit(ctx));
        using var doc = RequestBody.ParseValue(body);
        var entry = await map.Set(Route(ctx, "key"), doc.RootElement);
        await ApiEndpoints.WriteAsync(ctx, entry, DtJsonContext.Default.MapEntry);
    }

    private static async Task DeleteMapKeyAsync(HttpContext ctx)
    {
        var map = Map(ctx);
        string key = Route(ctx, "key");
        if (!await map.Delete(key)) throw new DtException(DtApiErrors.NotFound, $"map '{Route(ctx, "map")}' holds no key '{key}' here");
        ctx.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    /// <summary>GET /v1/maps/{name}/watch[?existing=true]: map_set, map_delete and map_ready of this map, as a
    /// /v1/events stream; existing=true first sends every entry as a map_set (id 0).</summary>
    private static async Task WatchMapAsync(HttpContext ctx)
    {
        var map = Map(ctx); // checks the name before the stream starts
        string name = Route(ctx, "map");
        var node = ctx.RequestServices.GetRequiredService<SiloNode>().Node;
        var filter = new EventStreamEndpoint.Filter(
            ev => ev.Type is GossipEventTypes.MapSet or GossipEventTypes.MapDelete or GossipEventTypes.MapReady
                  && ev.Value is { ValueKind: JsonValueKind.Object } v && v.TryGetProperty("map", out var m) && m.ValueKind == JsonValueKind.String
                  && m.GetString() == name,
            async (sse, ct) =>
            {
                await foreach (var e in map.List(ct))
                {
                    var value = JsonSerializer.SerializeToElement(e, DtJsonContext.Default.MapEntry);
                    sse.Event(new DtEvent(0, GossipEventTypes.MapSet, node.Time.GetUtcNow(), Value: value, Origin: "existing"));
                    if (sse.ShouldFlush) await sse.FlushAsync(ct);
                }
            });
        await ctx.RequestServices.GetRequiredService<EventStreamEndpoint>().HandleAsync(ctx, filter);
    }
}
