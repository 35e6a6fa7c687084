using System.Text.Json;
using Dt.Grains.Hosting;
using Dt.Grains.Placement;
using Dt.InProcess;
using Orleans.Concurrency;

namespace Dt.Grains;

/// <summary>A shared map as a node holds it, keyed "node/map" (<see cref="DtGrainKeys.Map"/>). Any node may write.</summary>
[DtNodePlacement, Reentrant]
public sealed class MapGrain(DtSiloNode silo) : DtGrain(silo, hasName: true), IMapGrain
{
    private LocalMapGrain? _local;

    private LocalMapGrain Local => _local ??= new LocalMapGrain(Key.Name, Node);

    public Task<MapEntry?> Get(string key) => Local.Get(key);

    public Task<MapEntry> Set(string key, JsonElement value) => Local.Set(key, value);

    public Task<bool> Delete(string key) => Local.Delete(key);

    public IAsyncEnumerable<MapEntry> List(CancellationToken cancellationToken = default) => Local.List(cancellationToken);

    public Task<MapInfo> GetInfo() => Local.GetInfo();

    public Task<bool> IsReady() => Local.IsReady();

    public Task WaitReady(CancellationToken cancellationToken = default) => Local.WaitReady(cancellationToken);

    public IAsyncEnumerable<MapChange> Watch(MapWatch watch, CancellationToken cancellationToken = default) => Local.Watch(watch, cancellationToken);
}
