using System.Text.Json;
using Dt.Grains.Hosting;
using Dt.Grains.Placement;
using Dt.InProcess;
using Orleans.Concurrency;

namespace Dt.Grains;

/// <summary>A node's gossip state, membership and say/hear bus, keyed by node name (<see cref="DtGrainKeys.Node"/>).</summary>
[DtNodePlacement, Reentrant]
public sealed class GossipGrain(DtSiloNode silo) : DtGrain(silo, hasName: false), IGossipGrain
{
    private LocalGossipGrain? _local;

    private LocalGossipGrain Local => _local ??= new LocalGossipGrain(Silo.Name, Node);

    public Task<GossipInfo> GetInfo() => Local.GetInfo();

    public Task<long> Set(string key, JsonElement value, long? ttlMilliseconds = null) => Local.Set(key, value, ttlMilliseconds);

    public Task<bool> Delete(string key) => Local.Delete(key);

    public Task<StateEntry?> Get(string key) => Local.Get(key);

    public Task<IReadOnlyList<StateEntry>> GetAll() => Local.GetAll();

    public Task<StateEntry?> GetRemote(string peer, string key) => Local.GetRemote(peer, key);

    public Task<IReadOnlyList<string>> GetRemoteKeys(string peer) => Local.GetRemoteKeys(peer);

    public Task<IReadOnlyList<StateEntry>> GetRemoteEntries(string peer) => Local.GetRemoteEntries(peer);

    public Task<IReadOnlyList<GossipPeer>> AllPeers() => Local.AllPeers();

    public Task<IReadOnlyList<GossipPeer>> LivePeers() => Local.LivePeers();

    public Task<IReadOnlyList<GossipPeer>> DeadPeers() => Local.DeadPeers();

    public Task<string> Say(string eventName, JsonElement data, long? durationMilliseconds = null) => Local.Say(eventName, data, durationMilliseconds);

    public IAsyncEnumerable<SaidEvent> Hear(HearRequest request, CancellationToken cancellationToken = default) => Local.Hear(request, cancellationToken);

    public Task<IReadOnlyList<SaidEvent>> GetLasting(HearRequest request) => Local.GetLasting(request);

    public Task<SaidEvent> HearOnce(HearRequest request, CancellationToken cancellationToken = default) => Local.HearOnce(request, cancellationToken);

    public IAsyncEnumerable<StateChange> Watch(StateWatch watch, CancellationToken cancellationToken = default) => Local.Watch(watch, cancellationToken);

    public IAsyncEnumerable<PeerChange> WatchPeers(CancellationToken cancellationToken = default) => Local.WatchPeers(cancellationToken);
}
