using Dt.Grains.Hosting;
using Dt.Grains.Placement;
using Dt.InProcess;
using Orleans.Concurrency;

namespace Dt.Grains;

/// <summary>A node's identity, links, tables and events, keyed by node name (<see cref="DtGrainKeys.Node"/>).</summary>
[DtNodePlacement, Reentrant]
public sealed class NodeGrain(DtSiloNode silo) : DtGrain(silo, hasName: false), INodeGrain
{
    private LocalNodeGrain Local => new(Silo.Name, Node);

    public Task<NodeInfo> GetInfo() => Local.GetInfo();

    public Task<IReadOnlyList<PeerInfo>> GetPeers() => Local.GetPeers();

    public Task<IReadOnlyList<TableSummary>> GetTables() => Local.GetTables();

    public IAsyncEnumerable<DtEvent> SubscribeEvents(EventSubscription subscription, CancellationToken cancellationToken = default) =>
        Local.SubscribeEvents(subscription, cancellationToken);
}
