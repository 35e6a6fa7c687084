using System.Text.Json;
using Dt.Hosting;
using Dt.InProcess;
using Xunit;

namespace Dt.Tests.Simulation;

/// <summary>Readers and listeners for gossip, event-bus and map tests on a <see cref="SimulatedCluster"/>.</summary>
internal static class SimKit
{
    public static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public static IGossipGrain Grain(this DtNode node) => new LocalGossipGrain("local", node);

    public static IMapGrain Map(this DtNode node, string name) => new LocalMapGrain(name, node);

    public static string Name(this DtNode node) => node.Gossip.Name;

    public static bool SeesAllLive(DtNode node, IReadOnlyList<DtNode> all) =>
        node.Gossip.Peers(alive: true).Count(p => all.Any(a => a != node && a.Name() == p.Name)) == all.Count - 1;

    public static bool AllLive(IReadOnlyList<DtNode> nodes) => nodes.All(n => SeesAllLive(n, nodes));

    public static void Print(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    /// <summary>The first item of a stream that matches, as a task (the subscription is registered before it returns).</summary>
    public static Task<T> Collect<T>(IAsyncEnumerable<T> stream, Func<T, bool> match) => Gossip.GossipStateTests.Collect(stream, match);
}
