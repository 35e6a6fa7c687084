using System.Net.Sockets;
using Dt.Events;
using Dt.Hosting;
using Dt.Messaging;
using Dt.Protocol;
using Dt.Security;
using Dt.Transport;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

/// <summary>The broadcast path over real sockets: bursts bundled per frame, duplicates, malformed payloads.</summary>
public sealed class MessagePathTests
{
    private static readonly IReadOnlySet<string> MessagesOnly = new HashSet<string> { DtEventTypes.MessageReceived };

    /// <summary>The first <paramref name="n"/> message events after <paramref name="afterId"/> (from the node's event log).</summary>
    private static async Task<List<DtEvent>> Messages(DtNode node, long afterId, int n)
    {
        await using var feed = node.Events.Open(null, afterId, MessagesOnly);
        var got = new List<DtEvent>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(Deadline);
        await foreach (var e in feed.ReadAllAsync(cts.Token))
        {
            got.Add(e);
            if (got.Count == n) break;
        }
        return got;
    }

    [Fact]
    public async Task A_burst_over_one_link_arrives_once_each_and_in_send_order()
    {
        const int burst = 5_000;
        await using var cluster = new TestCluster();
        var a = await cluster.Start();
        var b = await cluster.Start(peers: [a]);
        await WaitLinked(b, a);
        long before = b.Events.LastId;
        var ids = new List<string>();
        for (int i = 0; i < burst; i++) ids.Add((await a.GetMessageStream().Send(Json($$"""{"n":{{i}}}"""))));
        string marker = await a.GetMessageStream().Send(Json("""{"marker":true}"""));

        var got = await Messages(b, before, burst + 1);
        Assert.Equal([.. ids, marker], got.Select(e => e.MessageId));
        Assert.Equal(Enumerable.Range(0, burst), got.Take(burst).Select(e => e.Value!.Value.GetProperty("n").GetInt32()));
        Assert.All(got, e => Assert.Equal(a.NodeId.ToString(), e.Origin));
    }

    [Fact]
    public async Task A_repeated_message_is_delivered_once_and_a_malformed_payload_closes_the_link_undelivered()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start();
        long before = node.Events.LastId;

        await using (var peer = await Connect(cluster, node))
        {
            var dup = Encode(Guid.NewGuid(), """{"dup":1}"""u8);
            var marker = Guid.NewGuid();
            Assert.True(peer.TrySend(dup));
            Assert.True(peer.TrySend(dup));
            Assert.True(peer.TrySend(Encode(marker, """{"marker":1}"""u8)));
            var got = await Messages(node, before, 2);
            Assert.Equal([new Guid(dup.AsSpan(1, 16), bigEndian: true).ToString(), marker.ToString()], got.Select(e => e.MessageId));
            before = got[^1].Id;
        }

        await using var bad = await Connect(cluster, node);
        var malformed = Guid.NewGuid();
        Assert.True(bad.TrySend(Encode(malformed, """{"a":"""u8)));
        await bad.Closed.WaitAsync(Deadline, TestContext.Current.CancellationToken);

        // Still whole: a later message from its own sender is delivered, the malformed one never was.
        string after = await node.GetMessageStream().Send(Json("""{"after":true}"""));
        var next = await Messages(node, before, 1);
        Assert.Equal(after, Assert.Single(next).MessageId);
    }

    [Fact]
    public async Task Messages_go_out_as_compact_strict_JSON_whatever_the_sender_parsed_and_too_deep_ones_are_refused()
    {
        await using var cluster = new TestCluster();
        var a = await cluster.Start();
        var b = await cluster.Start(peers: [a]);
        await WaitLinked(b, a);
        long before = b.Events.LastId;
        var lenient = new System.Text.Json.JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = System.Text.Json.JsonCommentHandling.Skip };
        using var commented = System.Text.Json.JsonDocument.Parse("""{"a":[1,2,],/*c*/"b":"xy"}""", lenient);
        using var spaced = System.Text.Json.JsonDocument.Parse("""{ "s" : "é" }""");
        string first = await a.GetMessageStream().Send(commented.RootElement);
        string second = await a.GetMessageStream().Send(spaced.RootElement);
        var got = await Messages(b, before, 2);
        Assert.Equal([first, second], got.Select(e => e.MessageId));
        Assert.Equal("""{"a":[1,2],"b":"xy"}""", got[0].Value!.Value.GetRawText());
        Assert.Equal("é", got[1].Value!.Value.GetProperty("s").GetString());

        using var deep = System.Text.Json.JsonDocument.Parse(new string('[', 65) + new string(']', 65), new System.Text.Json.JsonDocumentOptions { MaxDepth = 100 });
        var e = await Assert.ThrowsAsync<DtException>(() => a.GetMessageStream().Send(deep.RootElement));
        Assert.Equal(DtErrorCodes.InvalidArgument, e.Code);
        Assert.All(a.Overlay.Links, l => Assert.False(l.IsClosed));
    }

    private static byte[] Encode(Guid id, ReadOnlySpan<byte> payload)
    {
        using var w = new WireWriter();
        BroadcastMessage.Encode(w, id, Guid.NewGuid(), 1, payload);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>An authenticated raw link to <paramref name="node"/>, as a peer would dial it.</summary>
    private static async Task<PeerLink> Connect(TestCluster cluster, DtNode node)
    {
        var ctx = new LinkContext(new KeyRing(NetworkKey.TryParse(cluster.Key, out var k) ? k! : throw new InvalidOperationException()),
            "dt", Guid.NewGuid(), false, 0, 1 << 24, 64 << 20, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(60), TimeProvider.System);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, node.Port!.Value, TestContext.Current.CancellationToken);
        var link = await PeerLink.EstablishAsync(TcpPeerTransport.Wrap(socket), true, ctx, NullLogger.Instance, TestContext.Current.CancellationToken);
        link.Start(new Ignore());
        return link;
    }

    private sealed class Ignore : ILinkHandler
    {
        public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body) => ValueTask.CompletedTask;

        public void OnClosed(PeerLink link, string reason) { }
    }
}
