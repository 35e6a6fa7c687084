using System.Runtime.CompilerServices;
using System.Text.Json;
using Dt.Gossip;
using Dt.Hosting;
using Dt.Maps;

namespace Dt.InProcess;

/// <summary>A shared map, keyed by its name. Any node may set and delete; see <see cref="MapModule"/> for the rules.</summary>
public class LocalMapGrain : IMapGrain
{
    private readonly DtNode _node;
    private readonly MapModule _maps;

    public LocalMapGrain(string name, DtNode node)
    {
        MapModule.CheckName(name);
        Map = name;
        _node = node;
        _maps = node.Module<MapModule>();
    }

    public string Map { get; }

    public Task<MapEntry?> Get(string key) => Task.FromResult(_maps.Get(Map, key));

    public Task<MapEntry> Set(string key, JsonElement value) => Task.FromResult(_maps.Set(Map, key, LocalGossipGrain.Bytes(value)));

    public Task<bool> Delete(string key) => Task.FromResult(_maps.Delete(Map, key));

    public async IAsyncEnumerable<MapEntry> List([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var e in _maps.List(Map))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return e;
        }
        await Task.CompletedTask;
    }

    public Task<MapInfo> GetInfo() => Task.FromResult(_maps.Info(Map));

    public Task<bool> IsReady() => Task.FromResult(_maps.IsReady);

    public Task WaitReady(CancellationToken cancellationToken = default) => _maps.WhenReady.WaitAsync(cancellationToken);

    public async IAsyncEnumerable<MapChange> Watch(MapWatch watch, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Subscribe before the snapshot so nothing falls between the two (an entry may then appear twice).
        await using var live = _node.Events.Open(null, null);
        if (watch.IncludeExisting)
            foreach (var e in _maps.List(Map)) yield return new MapChange(GossipEventTypes.MapSet, Map, e.Key, e.Value, null);
        await foreach (var ev in live.ReadAllAsync(cancellationToken))
        {
            if (ev.Type is not (GossipEventTypes.MapSet or GossipEventTypes.MapDelete or GossipEventTypes.MapReady) || ev.Value is not { } v) continue;
            if (v.GetProperty("map").GetString() != Map) continue;
            string? key = v.TryGetProperty("key", out var k) ? k.GetString() : null;
            JsonElement? value = v.TryGetProperty("value", out var x) ? x.Clone() : null;
            JsonElement? old = v.TryGetProperty("oldValue", out var o) ? o.Clone() : null;
            yield return new MapChange(ev.Type, Map, key, value, old);
        }
    }
}
