using Dt.Hosting;
using Dt.Transport;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

/// <summary>Reconciliation traffic grows with the difference between two nodes, not with the table.</summary>
public sealed class ReconciliationTrafficTests
{
    private const int Objects = 100_000;

    [Fact]
    public async Task Reconnecting_costs_little_when_equal_and_under_two_percent_for_a_thousand_differences()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        // The node dials, so it starts the rounds: on connect (the one measured), then every SyncInterval. At the
        // test profile's 1 s a loaded machine starts a second round while the first is still descending, and the
        // overlap (not the reconnect) doubles the bytes; 3 s keeps the periodic round after the measured one.
        var node = await cluster.Start(peers: [master], configure: o => o.SyncInterval = TimeSpan.FromSeconds(3));
        await WaitLinked(node, master);
        var table = master.GetTable();
        long payloadBytes = 0;
        for (int start = 0; start < Objects; start += 5000)
        {
            var batch = Enumerable.Range(start, 5000).Select(i => Json($$"""{"id":{{i}},"name":"object-{{i}}","data":"{{new string((char)('a' + i % 26), 60)}}"}""")).ToList();
            payloadBytes += batch.Sum(j => j.GetRawText().Length);
            await table.AddObjects(batch);
        }
        await WaitConverged([master, node], timeout: TimeSpan.FromSeconds(60));

        // Equal tables: the reconnect exchanges a few hundred bytes (handshake included).
        var equalBytes = await ReconnectAndMeasure(master, node, null);
        TestContext.Current.TestOutputHelper?.WriteLine($"equal tables of {Objects} objects: {equalBytes} bytes on the new link");
        Assert.True(equalBytes < 4096, $"reconnecting with equal tables cost {equalBytes} bytes");

        // 1,000 differences (500 added, 500 removed while apart).
        var hashes = new List<string>();
        await foreach (var o in table.ListObjects(TestContext.Current.CancellationToken)) { hashes.Add(o.Hash); if (hashes.Count == 500) break; }
        var diffBytes = await ReconnectAndMeasure(master, node, async () =>
        {
            await table.AddObjects([.. Enumerable.Range(0, 500).Select(i => Json($$"""{"new":{{i}},"data":"{{new string('z', 60)}}"}"""))]);
            foreach (var h in hashes) await table.RemoveObject(h);
        });
        double share = (double)diffBytes / payloadBytes;
        TestContext.Current.TestOutputHelper?.WriteLine($"1,000 differences: {diffBytes} bytes = {share:P2} of {payloadBytes} payload bytes");
        Assert.True(share < 0.02, $"1,000 differences cost {diffBytes} bytes, {share:P2} of the table");
        Assert.Equal(Objects, Summary(node).Count);
    }

    /// <summary>Cuts the node off, applies the change, heals, and returns the bytes of the new link until a round finds the tables equal.</summary>
    private static async Task<long> ReconnectAndMeasure(DtNode master, DtNode node, Func<Task>? whileApart)
    {
        node.Overlay.Partition([master.NodeId]);
        master.Overlay.Partition([node.NodeId]);
        await Eventually.Until(() => node.Overlay.Links.Count == 0 && master.Overlay.Links.Count == 0, "the nodes are apart");
        if (whileApart is not null) await whileApart();
        long roundsBefore = node.Replicator.RoundsInSync;
        node.Overlay.Partition([]);
        master.Overlay.Partition([]);
        await WaitConverged([master, node], timeout: TimeSpan.FromSeconds(60));
        await Eventually.Until(() => node.Replicator.RoundsInSync > roundsBefore, "a reconciliation round finds the tables equal");
        PeerLink link = node.Overlay.Links.Single(l => l.RemoteNodeId == master.NodeId);
        for (int t = 0; t < 256; t++)
            if (link.SentByType[t] + link.ReceivedByType[t] > 0)
                TestContext.Current.TestOutputHelper?.WriteLine($"  {(Dt.Protocol.MessageType)t}: sent {link.SentByType[t]}, received {link.ReceivedByType[t]}");
        return Interlocked.Read(ref link.BytesSent) + Interlocked.Read(ref link.BytesReceived);
    }
}
