using Orleans;

namespace Dt;

/// <summary>
/// Dt's grains through an Orleans <see cref="IGrainFactory"/>, as an <see cref="IDtGrainFactory"/>: the same calls
/// as the in-process node and the HTTP client. What a call that names no node gets (<see cref="DtGrainKeys"/>):
/// <list type="bullet">
/// <item>inside a silo (the factory the silo registers, with <c>localNode</c> its node): that node; table writes reach
/// a master even when the local node is not one;</item>
/// <item>in an Orleans client (no <c>localNode</c>): a master's silo when one is up, else any Dt silo;</item>
/// <item><see cref="OnNode"/>: the node named, for reads and writes (writes fail with <c>not_master</c> on others).</item>
/// </list>
/// </summary>
public sealed class DtGrainFactory : IDtGrainFactory
{
    private readonly IGrainFactory _grains;
    private readonly string _node;   // node part of node, gossip, map and stream keys
    private readonly string _table;  // node part of table keys

    /// <param name="grains">The silo's or client's grain factory.</param>
    /// <param name="localNode">Inside a silo, its node's name; null in a client.</param>
    public DtGrainFactory(IGrainFactory grains, string? localNode = null) : this(grains, localNode, named: false) { }

    private DtGrainFactory(IGrainFactory grains, string? node, bool named)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        if (node is null)
        {
            _node = _table = DtGrainKeys.AnyNode;
            return;
        }
        _node = DtGrainKeys.RequireNodeName(node);
        _table = named ? node : DtGrainKeys.Unnamed(node);
    }

    /// <summary>The grains of one named node: reads and writes go to that node only.</summary>
    public DtGrainFactory OnNode(string node) => new(_grains, DtGrainKeys.RequireNodeName(node), named: true);

    /// <summary>"local" is this factory's node; any other key names a node.</summary>
    public INodeGrain GetNode(string key = "local") => _grains.GetGrain<INodeGrain>(NodePart(key));

    public ITableGrain GetTable(string table = "default") => _grains.GetGrain<ITableGrain>(DtGrainKeys.Table(_table, table));

    public IMessageStream GetMessageStream(string key = "default") =>
        _grains.GetGrain<IMessageStream>(DtGrainKeys.MessageStream(_node, key));

    public IGossipGrain GetGossip(string key = "local") => _grains.GetGrain<IGossipGrain>(NodePart(key));

    public IMapGrain GetMap(string name) => _grains.GetGrain<IMapGrain>(DtGrainKeys.Map(_node, name));

    private string NodePart(string? key) => key is null or "local" ? _node : DtGrainKeys.Node(key);
}
