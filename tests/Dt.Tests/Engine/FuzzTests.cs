using System.Net.Sockets;
using Dt.Overlay;
using Dt.Messaging;
using Dt.Hosting;
using Dt.Protocol;
using Dt.Replication;
using Dt.Security;
using Dt.Transport;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static Dt.Tests.Engine.TestCluster;
using Dt.Model;

namespace Dt.Tests.Engine;

/// <summary>Random and mutated input at the decoders and at a live node: protocol errors, never crashes or hangs.</summary>
public sealed class FuzzTests
{
    /// <summary>Valid messages of every type, to mutate.</summary>
    private static List<byte[]> Samples()
    {
        var list = new List<byte[]>();
        void Add(Action<WireWriter> encode)
        {
            using var w = new WireWriter();
            encode(w);
            list.Add(w.ToArray());
        }
        using var key = MasterSigningKey.Generate();
        var json = """{"k":"v","n":[1,2]}"""u8.ToArray();
        BatchMember[] members = [new(ObjectHash.Of(json), false), new(ObjectHash.Of("1"u8), true)];
        var batch = new ChangeBatch(key.Id, 77, members, key.SignDigest(ChangeBatch.Digest("dt", "t", key.Id, 77, members)));
        Add(w => { BatchCodec.EncodeHeader(w, "t", 1); BatchCodec.EncodeGroup(w, batch, [new Change(members[0].Hash, batch.VersionOf(members[0]), json, batch, 0), new Change(members[1].Hash, batch.VersionOf(members[1]), null, batch, 1)], 0, 2); });
        Add(w => { BatchCodec.EncodeHeader(w, "t", 1); BatchCodec.EncodeGroup(w, batch, [new Change(members[0].Hash, batch.VersionOf(members[0]), json, batch, 0), new Change(members[1].Hash, batch.VersionOf(members[1]), null, batch, 1)], 0, 2, derive: true); });
        Add(w => new SyncSinceMessage(false, [("t", new Dictionary<Guid, ulong> { [key.Id] = 77, [Guid.NewGuid()] = 5 })]).Encode(w));
        Add(w => new PingMessage(12345, false).Encode(w));
        Add(w => new PeerListMessage([new PeerRecord(Guid.NewGuid(), true, "127.0.0.1", 9700), new PeerRecord(Guid.NewGuid(), false, "::1", 1)]).Encode(w));
        Add(w => new AnnounceMessage(Guid.NewGuid(), 9, true).Encode(w));
        Add(w => new SyncSummaryMessage(false, [new TableDigest("t", 10, 99), new TableDigest("u", 0, 0)]).Encode(w));
        Add(w => new RangesMessage(MessageType.SyncNodesRequest, "t", 2, RangeMode.Versions, [1, 2, 300]).Encode(w));
        Add(w => new RangesMessage(MessageType.RangeRequest, "t", 3, RangeMode.Entries, [7]).Encode(w));
        var rs = new RangeSummary(5);
        rs.Counts[3] = 2; rs.Sums[3] = 1234;
        Add(w => new SyncNodesMessage("t", 1, [rs]).Encode(w));
        Add(w => RangeVersionsCodec.Encode(w, "t", 4, [3UL], [new Change(members[0].Hash, batch.VersionOf(members[0]), null)]));
        Add(w => EntryRequestCodec.Encode(w, "t", [members[0].Hash]));
        Add(w => new BroadcastMessage(Guid.NewGuid(), Guid.NewGuid(), 1, """{"m":1}"""u8.ToArray()).Encode(w));
        Add(w => new GoodbyeMessage("bye").Encode(w));
        return list;
    }

    /// <summary>Decodes a message as the node would (type byte first).</summary>
    private static void Decode(byte[] message)
    {
        if (message.Length == 0) return;
        var r = new WireReader(message.AsSpan(1));
        switch ((MessageType)message[0])
        {
            case MessageType.Changes: BatchCodec.Decode(ref r, 1 << 20, new BatchMemory()); break;
            case MessageType.Ping: PingMessage.Decode(ref r, false); break;
            case MessageType.Pong: PingMessage.Decode(ref r, true); break;
            case MessageType.PeerList: PeerListMessage.Decode(ref r); break;
            case MessageType.Announce: AnnounceMessage.Decode(ref r); break;
            case MessageType.Goodbye: GoodbyeMessage.Decode(ref r); break;
            case MessageType.SyncSummary: SyncSummaryMessage.Decode(ref r); break;
            case MessageType.SyncSince: SyncSinceMessage.Decode(ref r); break;
            case MessageType.SyncNodesRequest or MessageType.RangeRequest: RangesMessage.Decode(ref r, (MessageType)message[0]); break;
            case MessageType.SyncNodes: SyncNodesMessage.Decode(ref r); break;
            case MessageType.RangeVersions: RangeVersionsCodec.Decode(ref r); break;
            case MessageType.EntryRequest: EntryRequestCodec.Decode(ref r); break;
            case MessageType.Broadcast: BroadcastMessage.Decode(ref r, 1 << 20); break;
        }
    }

    private static byte[] Mutate(byte[] message, int seed)
    {
        var rng = new Random(seed);
        var bytes = new List<byte>(message);
        int edits = rng.Next(1, 6);
        for (int e = 0; e < edits && bytes.Count > 1; e++)
        {
            int at = rng.Next(1, bytes.Count); // keep the type byte, so each decoder gets exercised
            switch (rng.Next(4))
            {
                case 0: bytes[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1: bytes[at] = (byte)rng.Next(256); break;
                case 2: bytes.RemoveRange(at, rng.Next(1, Math.Min(8, bytes.Count - at) + 1)); break;
                default: bytes.InsertRange(at, Enumerable.Range(0, rng.Next(1, 8)).Select(_ => (byte)rng.Next(256))); break;
            }
        }
        return [.. bytes];
    }

    [Fact]
    public void Mutated_messages_either_decode_or_raise_protocol_errors()
    {
        var samples = Samples();
        var property = Prop.ForAll(Arb.From(Gen.Choose(0, samples.Count - 1)), Arb.From(Gen.Choose(0, int.MaxValue)), (int which, int seed) =>
        {
            var mutated = Mutate(samples[which], seed);
            try { Decode(mutated); }
            catch (ProtocolException) { }
            return true;
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(20_000), property);
    }

    [Fact]
    public void Random_bytes_either_decode_or_raise_protocol_errors()
    {
        var property = Prop.ForAll(Arb.From(Gen.Choose(1, 40)), Arb.From(Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i))), (int type, byte[] body) =>
        {
            try { Decode([(byte)type, .. body]); }
            catch (ProtocolException) { }
            return true;
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(20_000), property);
    }

    [Fact]
    public async Task A_live_node_survives_mutated_frames_from_an_authenticated_peer_with_flat_memory()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, configure: o => o.MaxHandshakesPerSecondPerIp = 10_000);
        var hashes = await master.GetTable().AddObjects([.. Enumerable.Range(0, 100).Select(i => Json($$"""{"i":{{i}}}"""))]);
        var samples = Samples();
        var ctx = new LinkContext(new KeyRing(NetworkKey.TryParse(cluster.Key, out var k) ? k! : throw new InvalidOperationException()),
            "dt", Guid.NewGuid(), false, 0, 1 << 24, 64 << 20, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3), TimeProvider.System);
        var ct = TestContext.Current.CancellationToken;
        GC.Collect();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var until = DateTime.UtcNow.AddSeconds(3);
        int sent = 0, seed = 0;
        while (DateTime.UtcNow < until)
        {
            var socket = new Socket(System.Net.Sockets.AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(System.Net.IPAddress.Loopback, master.Port!.Value, ct);
            await using var link = await PeerLink.EstablishAsync(TcpPeerTransport.Wrap(socket), true, ctx, NullLogger.Instance, ct);
            link.Start(new Ignore());
            for (int i = 0; i < 20 && !link.IsClosed; i++, sent++)
                link.TrySend(Mutate(samples[seed % samples.Count], seed++));
            await Task.WhenAny(link.Closed, Task.Delay(50, ct));
        }
        GC.Collect();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        TestContext.Current.TestOutputHelper?.WriteLine($"{sent} mutated messages; managed heap {before / 1024} KiB -> {after / 1024} KiB");
        Assert.True(after - before < 64L << 20, $"memory grew from {before} to {after} bytes");
        Assert.True(sent > 100);
        // Still whole: the table is intact and a real peer syncs.
        Assert.Equal(100, Summary(master).Count);
        var node = await cluster.Start(peers: [master]);
        await Eventually.Until(() => hashes.All(h => Holds(node, h)), "a real peer still syncs after the fuzzing");
    }

    [Fact]
    public async Task A_stalled_reader_is_cut_off_without_growing_memory_or_stalling_others()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, configure: o =>
        {
            o.MaxFrameBytes = 1 << 20;
            o.MaxObjectBytes = o.MaxMessageBytes = 64 << 10;
            o.MaxPeerQueueBytes = 4 << 20;
            o.LinkIdleTimeout = TimeSpan.FromSeconds(60);
        });
        var healthy = await cluster.Start(peers: [master]);
        await WaitLinked(healthy, master);
        var ctx = new LinkContext(new KeyRing(NetworkKey.TryParse(cluster.Key, out var k) ? k! : throw new InvalidOperationException()),
            "dt", Guid.NewGuid(), false, 0, 1 << 24, 64 << 20, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(60), TimeProvider.System);
        var socket = new Socket(System.Net.Sockets.AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.ReceiveBufferSize = 4096;
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, master.Port!.Value, TestContext.Current.CancellationToken);
        await using var stalled = await PeerLink.EstablishAsync(TcpPeerTransport.Wrap(socket), true, ctx, NullLogger.Instance, TestContext.Current.CancellationToken);
        // Never started: it reads nothing, like a peer that stopped reading.
        await Eventually.Until(() => master.Overlay.Links.Any(l => l.RemoteNodeId == ctx.NodeId), "the stalled peer is linked");
        var toStalled = master.Overlay.Links.Single(l => l.RemoteNodeId == ctx.NodeId);

        string pad = new('x', 1000);
        var last = new List<string>();
        for (int round = 0; round < 40 && !toStalled.IsClosed; round++)
            last = [.. await master.GetTable().AddObjects([.. Enumerable.Range(0, 500).Select(i => Json($$"""{"r":{{round}},"i":{{i}},"p":"{{pad}}"}"""))])];
        await Eventually.Until(() => toStalled.IsClosed, "the link to the stalled peer is cut once its queue is over the cap");
        Assert.True(toStalled.QueuedBytes <= (4 << 20) + (1 << 20));
        await Eventually.Until(() => last.All(h => Holds(healthy, h)), "the healthy peer keeps up meanwhile");
    }

    [Fact]
    public async Task A_connection_flood_from_one_address_is_rate_limited()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, configure: o => o.MaxHandshakesPerSecondPerIp = 5);
        var ctx = new LinkContext(new KeyRing(NetworkKey.TryParse(cluster.Key, out var k) ? k! : throw new InvalidOperationException()),
            "dt", Guid.NewGuid(), false, 0, 1 << 24, 64 << 20, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3), TimeProvider.System);
        int ok = 0, refused = 0;
        for (int i = 0; i < 40; i++)
        {
            var socket = new Socket(System.Net.Sockets.AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(System.Net.IPAddress.Loopback, master.Port!.Value, TestContext.Current.CancellationToken);
            try
            {
                await using var link = await PeerLink.EstablishAsync(TcpPeerTransport.Wrap(socket), true, ctx with { NodeId = Guid.NewGuid() }, NullLogger.Instance, TestContext.Current.CancellationToken);
                ok++;
            }
            catch (HandshakeException) { refused++; }
        }
        Assert.InRange(ok, 5, 25);
        Assert.True(refused >= 15, $"{refused} of 40 rapid handshakes refused");
    }

    private sealed class Ignore : ILinkHandler
    {
        public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body) => ValueTask.CompletedTask;

        public void OnClosed(PeerLink link, string reason) { }
    }
}
