using Dt.Gossip;
using Dt.InProcess;
using Dt.Hosting;
using Dt.Maps;
using Dt.Replication;
using Dt.Tests.Engine;
using Xunit;

namespace Dt.Tests.Gossip;

/// <summary>Gossip tests measure timings: they run alone, never beside other test classes.</summary>
[CollectionDefinition(nameof(GossipCollection), DisableParallelization = true)]
public sealed class GossipCollection;

/// <summary>Starting gossip nodes on a <see cref="TestCluster"/> with chosen gossip settings, and reading them.</summary>
internal static class GossipKit
{
    public static Task<DtNode> Start(this TestCluster cluster, GossipOptions gossip, DtNode[]? peers = null, Action<DtOptions>? configure = null, NodeStore? store = null) =>
        cluster.Start(peers: peers, store: store, configure: configure, gossip: gossip);

    /// <summary>A tree: node i links to node (i - 1) / 2, so state travels several hops.</summary>
    public static async Task<DtNode[]> StartTree(this TestCluster cluster, int n, GossipOptions gossip, Action<DtOptions>? configure = null)
    {
        var nodes = new DtNode[n];
        for (int i = 0; i < n; i++) nodes[i] = await cluster.Start(gossip, i == 0 ? null : [nodes[(i - 1) / 2]], configure);
        return nodes;
    }

    public static GossipModule G(this DtNode node) => node.Module<GossipModule>();

    public static MapModule M(this DtNode node) => node.Module<MapModule>();

    public static IGossipGrain Grain(this DtNode node) => new LocalGossipGrain("local", node);

    public static IMapGrain Map(this DtNode node, string name) => new LocalMapGrain(name, node);

    public static string Name(this DtNode node) => node.G().Name;

    public static bool SeesAllLive(DtNode node, IReadOnlyList<DtNode> all) =>
        node.G().Peers(alive: true).Count(p => all.Any(a => a != node && a.Name() == p.Name)) == all.Count - 1;

    public static Task WaitAllLive(IReadOnlyList<DtNode> nodes, TimeSpan? timeout = null) =>
        Eventually.Until(() => nodes.All(n => SeesAllLive(n, nodes)), $"all {nodes.Count} nodes see each other alive", timeout);

    public static void Print(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);
}
