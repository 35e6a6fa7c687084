using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

public sealed class MessageTests
{
    /// <summary>Counts message_received events per node, by message id.</summary>
    private sealed class Receipts : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly List<Task> _tasks = [];
        private readonly Dictionary<Guid, Dictionary<string, int>> _seen = [];

        public Receipts(IEnumerable<Hosting.DtNode> nodes)
        {
            foreach (var n in nodes)
            {
                var counts = _seen[n.NodeId] = [];
                var stream = n.GetMessageStream().Subscribe(_cts.Token);
                _tasks.Add(Task.Run(async () =>
                {
                    try
                    {
                        await foreach (var m in stream)
                            lock (counts) counts[m.Id] = counts.GetValueOrDefault(m.Id) + 1;
                    }
                    catch (OperationCanceledException) { }
                }));
            }
        }

        /// <summary>Subscriptions register when first enumerated; wait for that before sending.</summary>
        public static Task Ready(IEnumerable<Hosting.DtNode> nodes, int perNode = 1) =>
            Eventually.Until(() => nodes.All(n => n.Events.SubscriberCount >= perNode), "subscriptions are registered");

        public int Count(Hosting.DtNode node, string id)
        {
            var c = _seen[node.NodeId];
            lock (c) return c.GetValueOrDefault(id);
        }

        public async ValueTask DisposeAsync()
        {
            _cts.Cancel();
            await Task.WhenAll(_tasks);
        }
    }

    [Fact]
    public async Task Every_node_receives_a_message_exactly_once_when_links_form_a_cycle()
    {
        await using var cluster = new TestCluster();
        // A ring with no master at all: a -> b -> c -> d -> a, plus a chord b -> d.
        var a = await cluster.Start();
        var b = await cluster.Start(peers: [a]);
        var c = await cluster.Start(peers: [b]);
        var d = await cluster.Start(peers: [c], configure: o => o.MaxOutboundLinks = 3);
        var nodes = new[] { a, b, c, d };
        await WaitLinked(b, a);
        await WaitLinked(c, b);
        await WaitLinked(d, c);
        // Close the cycle with extra links from a to d and from b to d.
        await AddLink(a, d);
        await AddLink(b, d);
        await WaitLinked(a, d);
        await WaitLinked(b, d);

        await using var receipts = new Receipts(nodes);
        await Receipts.Ready(nodes);
        string first = await c.GetMessageStream().Send(Json("""{"hello":"ring"}"""));
        await Eventually.Until(() => nodes.All(n => receipts.Count(n, first) >= 1), "every node receives the message");
        // A later message from the other side travels the same links; when it has arrived everywhere, any
        // duplicate of the first would have had every chance to arrive too.
        string marker = await a.GetMessageStream().Send(Json("""{"marker":true}"""));
        await Eventually.Until(() => nodes.All(n => receipts.Count(n, marker) >= 1), "every node receives the marker");
        foreach (var n in nodes)
        {
            Assert.Equal(1, receipts.Count(n, first));
            Assert.Equal(1, receipts.Count(n, marker));
        }
    }

    private static Task AddLink(Hosting.DtNode from, Hosting.DtNode to) => from.Overlay.AddCandidateForTests(Address(to));

    [Fact]
    public async Task A_message_sent_on_a_non_master_reaches_the_master_and_carries_its_origin()
    {
        await using var cluster = new TestCluster();
        var nodes = await cluster.StartChain(3);
        await WaitLinked(nodes[2], nodes[1]);
        await WaitLinked(nodes[1], nodes[0]);
        await using var receipts = new Receipts(nodes);
        var got = new TaskCompletionSource<DtMessage>();
        using var cts = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            await foreach (var m in nodes[0].GetMessageStream().Subscribe(cts.Token)) { got.TrySetResult(m); break; }
        });
        await Receipts.Ready(nodes);
        await Receipts.Ready([nodes[0]], 2);
        string id = await nodes[2].GetMessageStream().Send(Json("""{"from":"leaf","n":[1,2,3]}"""));
        var msg = await got.Task.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(id, msg.Id);
        Assert.Equal(nodes[2].NodeId.ToString(), msg.Origin);
        Assert.Equal("leaf", msg.Payload.GetProperty("from").GetString());
        await Eventually.Until(() => nodes.All(n => receipts.Count(n, id) == 1), "every node receives it once");
        cts.Cancel();
    }

    [Fact]
    public async Task An_oversized_message_is_refused_with_a_clear_error()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(configure: o => o.MaxMessageBytes = 1024);
        var e = await Assert.ThrowsAsync<DtException>(() => node.GetMessageStream().Send(Json($$"""{"big":"{{new string('x', 2000)}}"}""")));
        Assert.Equal(DtErrorCodes.TooLarge, e.Code);
        Assert.Contains("Dt:MaxMessageBytes", e.Message);
    }
}
