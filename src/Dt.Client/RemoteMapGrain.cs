using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Dt.Client;

/// <summary><see cref="IMapGrain"/> over the silo's HTTP API (/v1/maps/{name}); <see cref="Watch"/> resumes after a
/// dropped connection like every event stream of the client.</summary>
public class RemoteMapGrain : IMapGrain
{
    private readonly DtApiConnection _api;

    internal RemoteMapGrain(string name, DtApiConnection api)
    {
        if (string.IsNullOrEmpty(name)) throw new DtException(DtErrorCodes.InvalidArgument, "the map name must not be empty");
        Map = name;
        _api = api;
    }

    public string Map { get; }

    /// <summary>How often <see cref="WaitReady"/> asks the silo.</summary>
    public static TimeSpan ReadyPollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    public Task<MapEntry?> Get(string key) => _api.GetOrNullAsync(DtApiRoutes.MapKey(Map, RequireKey(key)), DtJsonContext.Default.MapEntry);

    public async Task<MapEntry> Set(string key, JsonElement value) =>
        (await _api.SendAsync(HttpMethod.Put, DtApiRoutes.MapKey(Map, RequireKey(key)), RemoteGossipGrain.JsonContent(value), DtJsonContext.Default.MapEntry))!;

    public Task<bool> Delete(string key) => _api.SendNoContentAsync(HttpMethod.Delete, DtApiRoutes.MapKey(Map, RequireKey(key)));

    public async IAsyncEnumerable<MapEntry> List([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var state = await _api.GetAsync(DtApiRoutes.Map(Map), DtJsonContext.Default.MapState, cancellationToken);
        foreach (var e in state.Entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return e;
        }
    }

    public async Task<MapInfo> GetInfo() => (await _api.GetAsync(DtApiRoutes.Map(Map), DtJsonContext.Default.MapState)).Info;

    public async Task<bool> IsReady() => (await GetInfo()).Ready;

    public async Task WaitReady(CancellationToken cancellationToken = default)
    {
        while (!(await _api.GetAsync(DtApiRoutes.Map(Map), DtJsonContext.Default.MapState, cancellationToken)).Info.Ready)
            await Task.Delay(ReadyPollInterval, cancellationToken);
    }

    public async IAsyncEnumerable<MapChange> Watch(MapWatch watch, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(watch);
        var subscription = new EventSubscription(IncludeExisting: watch.IncludeExisting);
        await foreach (var e in EventStream.Read(_api, subscription, null, DtApiRoutes.MapWatch(Map), null, cancellationToken))
        {
            if (e.Type is not (GossipEventTypes.MapSet or GossipEventTypes.MapDelete or GossipEventTypes.MapReady)) continue;
            if (e.Value is not { ValueKind: JsonValueKind.Object } v) continue;
            string? key = v.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            JsonElement? value = v.TryGetProperty("value", out var x) ? x.Clone() : null;
            JsonElement? old = v.TryGetProperty("oldValue", out var o) ? o.Clone() : null;
            yield return new MapChange(e.Type, Map, key, value, old);
        }
    }

    private static string RequireKey(string key) =>
        string.IsNullOrEmpty(key) ? throw new DtException(DtErrorCodes.InvalidArgument, "the key must not be empty") : key;
}
