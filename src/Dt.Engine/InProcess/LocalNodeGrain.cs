using System.Runtime.CompilerServices;
using Dt.Hosting;
using Dt.Overlay;

namespace Dt.InProcess;

/// <summary>The node itself: identity, links, tables, events. Keyed by node id; "local" is this node.</summary>
public class LocalNodeGrain(string key, DtNode node) : INodeGrain
{
    public string Key { get; } = key;

    public Task<NodeInfo> GetInfo()
    {
        var listen = node.Overlay.ListenEndPoint is { } ep ? new[] { ep.ToString() } : [];
        return Task.FromResult(new NodeInfo(node.NodeId.ToString(), node.Options.Master, node.Options.Network, listen,
            Peers(), Tables(), node.StartedAt, node.Options.NodeName, node.Replicator.Untrusted.Warnings(), node.Metrics.Snapshot()));
    }

    public Task<IReadOnlyList<PeerInfo>> GetPeers() => Task.FromResult(Peers());

    public Task<IReadOnlyList<TableSummary>> GetTables() => Task.FromResult(Tables());

    public IAsyncEnumerable<DtEvent> SubscribeEvents(EventSubscription subscription, CancellationToken cancellationToken = default) =>
        LocalTableGrain.Subscribe(node, subscription, cancellationToken);

    private IReadOnlyList<PeerInfo> Peers()
    {
        var primary = node.Overlay.PrimaryNode;
        return node.Overlay.LinkStates()
            .Where(x => x.State.Role != LinkRole.Test)
            .Select(x => new PeerInfo(x.Link.RemoteNodeId.ToString(), x.Link.RemoteEndPoint.ToString(),
                x.Link.IsDialer ? LinkDirection.Outbound : LinkDirection.Inbound,
                x.Link.RemoteNodeId == primary, x.Link.RemoteIsMaster, x.State.Rtt.Average, x.State.Rtt.Count, x.Link.ConnectedAt))
            .ToList();
    }

    private IReadOnlyList<TableSummary> Tables() =>
        node.Replicator.Tables.Select(LocalTableGrain.Summarize).OrderBy(t => t.Table, StringComparer.Ordinal).ToList();
}
