using Dt.Hosting;
using Dt.Protocol;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

/// <summary>
/// A new link's first round opens with each side pushing the changes newer than the other's newest of the same master:
/// after an outage that is the difference itself, sent without a descent of the reconciliation tree. The descent still
/// repairs what the push cannot see (an older change missed behind a newer one of the same master).
/// </summary>
public sealed class SyncSinceTests
{
    [Fact]
    public async Task Masters_that_both_changed_while_apart_exchange_the_changes_without_a_descent()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.Start(master: true);
        // The periodic round stays out of the measured one.
        var b = await cluster.Start(master: true, peers: [a], configure: o => o.SyncInterval = TimeSpan.FromMinutes(5));
        var seed = Enumerable.Range(0, 2000).Select(i => Json($$"""{"seed":{{i}}}""")).ToList();
        await a.GetTable().AddObjects(seed);
        await WaitConverged([a, b]);

        await Partition([a], [b]);
        var onA = await a.GetTable().AddObjects([.. Enumerable.Range(0, 100).Select(i => Json($$"""{"a":{{i}}}"""))]);
        var onB = await b.GetTable().AddObjects([.. Enumerable.Range(0, 100).Select(i => Json($$"""{"b":{{i}}}"""))]);
        var removed = await a.GetTable().RemoveObject((await a.GetTable().AddObjects([seed[0]]))[0]);
        Assert.True(removed);
        Heal([a, b]);

        await WaitConverged([a, b]);
        Assert.All(onA.Concat(onB), h => Assert.True(Holds(a, h) && Holds(b, h)));
        Assert.Equal(2000 + 200 - 1, Summary(b).Count);
        var link = b.Overlay.Links.Single(l => l.RemoteNodeId == a.NodeId);
        Assert.True(link.SentByType[(byte)MessageType.SyncSince] > 0, "the new link's round opened with the newest changes");
        AssertNoDescent(link);
    }

    [Fact]
    public async Task A_node_tracks_each_master_so_a_newer_change_from_one_hides_nothing_of_another()
    {
        await using var cluster = new TestCluster();
        var m1 = await cluster.Start(master: true);
        var m2 = await cluster.Start(master: true, peers: [m1]);
        var node = await cluster.Start(peers: [m1, m2]);
        // The node keeps one primary link (to either master); a link to the other came only from a primary switch
        // after a node test, which the test must not wait for.
        await WaitLinked(m2, m1);
        await Eventually.Until(() => node.Overlay.Links.Any(l => l.RemoteNodeId == m1.NodeId || l.RemoteNodeId == m2.NodeId), "the node links to a master");

        // The node is cut off from both masters, and the masters from each other.
        Cut(node, m1, m2);
        Cut(m1, node, m2);
        Cut(m2, node, m1);
        await Eventually.Until(() => node.Overlay.Links.Count == 0 && !m1.Overlay.Links.Any(l => l.RemoteNodeId == m2.NodeId), "everyone is apart");

        string older = await m1.GetTable().AddObject(Json("""{"older":"from m1"}"""));
        ulong olderClock = m1.Replicator.Find("default")!.NewestByAuthor().Values.Max();
        await Eventually.Until(() => m2.Clock.Now() > olderClock, "m2's clock passes the older change's");
        string newer = await m2.GetTable().AddObject(Json("""{"newer":"from m2"}"""));

        // The node hears the newer change from m2 first: its newest change overall is later than the one it misses.
        Cut(node, m1);
        Cut(m2, m1);
        await Eventually.Until(() => Holds(node, newer), "the node gets the newer change from m2");
        Assert.False(Holds(node, older));

        // Linked to m1 (m1 and m2 still apart): the node has nothing from m1, so m1 pushes its change, and the node
        // pushes m2's to m1, both in the link's first round.
        Cut(node);
        Cut(m1, m2);
        await Eventually.Until(() => Holds(node, older) && Holds(m1, newer), "each side gets the other's change");
        AssertNoDescent(node.Overlay.Links.Single(l => l.RemoteNodeId == m1.NodeId));
    }

    [Fact]
    public async Task An_older_change_of_a_master_missed_behind_a_newer_one_of_the_same_master_is_found_by_the_descent()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var node = await cluster.Start(peers: [master]);
        await master.GetTable().AddObject(Json("""{"common":true}"""));
        await WaitConverged([master, node]);

        await Partition([node], [master]);
        string older = await master.GetTable().AddObject(Json("""{"older":1}"""));
        string newer = await master.GetTable().AddObject(Json("""{"newer":2}"""));
        // The node gets the newer change out of order (as over another path), never the older one.
        var table = master.Replicator.Find("default")!;
        Assert.True(Dt.Model.ObjectHash.TryParse(newer, out var newerHash));
        var change = Assert.Single(table.Lookup([newerHash]));
        Assert.Equal(Dt.Replication.ApplyOutcome.Added, node.Replicator.Find("default")!.Apply(change));
        Assert.False(Holds(node, older));

        // The push on the new link starts after the node's newest change of this master, so only the descent finds the older one.
        Heal([node, master]);
        await Eventually.Until(() => Holds(node, older), "the descent brings the older change");
        await WaitConverged([master, node]);
        var link = node.Overlay.Links.Single(l => l.RemoteNodeId == master.NodeId);
        Assert.True(link.SentByType[(byte)MessageType.SyncNodesRequest] > 0, "the round descended");
    }

    /// <summary>
    /// The round went no deeper than the root: its summary may have been taken while the other side's push was still
    /// arriving, so one look at the root's 16 children (about 200 bytes) is allowed, and nothing below it.
    /// </summary>
    private static void AssertNoDescent(Dt.Transport.PeerLink link)
    {
        long descent = 0;
        foreach (var t in new[] { MessageType.SyncNodesRequest, MessageType.SyncNodes, MessageType.RangeRequest, MessageType.RangeVersions, MessageType.EntryRequest })
            descent += link.SentByType[(byte)t] + link.ReceivedByType[(byte)t];
        Assert.True(descent < 1024, $"the first round descended: {descent} bytes of range summaries and requests");
        Assert.Equal(0, link.SentByType[(byte)MessageType.RangeVersions] + link.ReceivedByType[(byte)MessageType.RangeVersions]);
    }

    private static void Cut(DtNode node, params DtNode[] from) => node.Overlay.Partition(from.Select(n => n.NodeId));
}
