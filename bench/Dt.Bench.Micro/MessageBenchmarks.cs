using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Dt.Diagnostics;
using Dt.Events;
using Dt.Messaging;
using Dt.Model;
using Dt.Modules;
using Dt.Protocol;
using Dt.Security;
using Dt.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dt.Bench.Micro;

/// <summary>
/// Broadcast messages' per-message path, composed from the engine's own types in one process: two
/// <see cref="PeerLink"/>s over a real loopback TCP connection after a real handshake, a <see cref="BroadcastModule"/>
/// on each side with its event log. The same ~100-byte JSON message as the scenario benchmark. Allocations are
/// counted over all threads (BenchmarkDotNet uses <see cref="GC.GetTotalAllocatedBytes(bool)"/>), so the link loops are included.
/// </summary>
[BenchmarkCategory("messages")]
public class MessageBenchmarks
{
    private const int Burst = 20_000;
    private const int Single = 1_000;

    /// <summary>The id window's cap, small so that it is full (the steady state) after the first iterations.</summary>
    private const int RememberedIds = 10_000;

    private JsonDocument _doc = null!;
    private JsonElement _message;
    private PeerLink _a = null!, _b = null!;
    private BroadcastModule _sender = null!, _receiver = null!, _alone = null!;
    private Counting _counter = null!;
    private byte[] _encoded = [];
    private long _nextId;

    [GlobalSetup]
    public void Setup()
    {
        _doc = JsonDocument.Parse("{\"data\":\"" + new string('x', 64) + "\",\"kind\":\"bench\",\"n\":1}");
        _message = _doc.RootElement;
        var key = NetworkKey.Generate();
        var (dialer, listener) = LoopbackConnection.Pair();
        var ctxA = Link(key);
        var ctxB = Link(key);
        var a = PeerLink.EstablishAsync(dialer, isDialer: true, ctxA, NullLogger.Instance, default);
        var b = PeerLink.EstablishAsync(listener, isDialer: false, ctxB, NullLogger.Instance, default);
        _a = a.GetAwaiter().GetResult();
        _b = b.GetAwaiter().GetResult();
        _sender = Module(ctxA.NodeId, [_a]);
        _receiver = Module(ctxB.NodeId, []);
        _alone = Module(Guid.NewGuid(), []);
        _counter = new Counting(_receiver);
        _a.Start(new Counting(Module(ctxA.NodeId, [])));
        _b.Start(_counter);

        using var w = new WireWriter();
        BroadcastMessage.Encode(w, Guid.NewGuid(), ctxA.NodeId, 1, JsonSerializer.SerializeToUtf8Bytes(_message));
        _encoded = w.WrittenSpan[1..].ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.DisposeAsync().AsTask().Wait();
        _b.DisposeAsync().AsTask().Wait();
        _doc.Dispose();
    }

    /// <summary>Send at A (serialize, id, local delivery, encode, queue), bundle and seal in A's write loop, open and
    /// split in B's read loop, decode, de-duplicate, validate and deliver at B: the whole path of one message.</summary>
    [Benchmark(OperationsPerInvoke = Burst, Description = "broadcast A → B over one encrypted link, 20k burst, per message")]
    public void SendToPeer()
    {
        _counter.Expect(Burst);
        for (int i = 0; i < Burst; i++) _sender.Send(_message);
        _counter.Wait();
    }

    /// <summary>The sender's share with no link: serialize, id, remember it, deliver locally.</summary>
    [Benchmark(OperationsPerInvoke = Single, Description = "BroadcastModule.Send, no links, per message")]
    public void SendLocal()
    {
        for (int i = 0; i < Single; i++) _alone.Send(_message);
    }

    /// <summary>The receiver's share for a new message: decode in place, remember its id, validate the JSON, deliver.</summary>
    [Benchmark(OperationsPerInvoke = Single, Description = "BroadcastModule.OnMessageAsync, new message, per message")]
    public void ReceiveNew()
    {
        for (int i = 0; i < Single; i++)
        {
            // A fresh id each time, written in place, so every message is new to the window.
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(_encoded, ++_nextId);
            _receiver.OnMessageAsync(_b, MessageType.Broadcast, _encoded);
        }
    }

    /// <summary>A message already seen (a flood over a cycle): decode the id and stop.</summary>
    [Benchmark(OperationsPerInvoke = Single, Description = "BroadcastModule.OnMessageAsync, duplicate, per message")]
    public void ReceiveDuplicate()
    {
        for (int i = 0; i < Single; i++) _receiver.OnMessageAsync(_b, MessageType.Broadcast, _encoded);
    }

    private static LinkContext Link(NetworkKey key) =>
        new(new KeyRing(key), "dt", Guid.NewGuid(), false, 0, 1 << 24, 64 << 20, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(5), TimeProvider.System);

    private static BroadcastModule Module(Guid node, IReadOnlyList<PeerLink> links)
    {
        var time = TimeProvider.System;
        var loggers = NullLoggerFactory.Instance;
        var context = new ModuleContext(node, null, false, () => links, new EventHub(10_000, 1_000, time), new HybridLogicalClock(time),
            time, loggers, new PeerWarnings(NullLogger.Instance, NullLogger.Instance, TimeSpan.FromMinutes(1), time), new DtMetrics(node, () => 0, () => links.Count));
        return new BroadcastModule(new BroadcastOptions { MaxMessageBytes = 1 << 20, MessageIdWindow = TimeSpan.FromMinutes(5), MaxRememberedMessageIds = RememberedIds }, context);
    }

    /// <summary>Hands B's messages to its module and signals when the expected number has been delivered.</summary>
    private sealed class Counting(BroadcastModule module) : ILinkHandler
    {
        private readonly ManualResetEventSlim _done = new();
        private long _left;

        public void Expect(int n)
        {
            _done.Reset();
            Volatile.Write(ref _left, n);
        }

        public void Wait()
        {
            if (!_done.Wait(TimeSpan.FromSeconds(30))) throw new TimeoutException($"{Volatile.Read(ref _left)} messages not delivered");
        }

        public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
        {
            if (type != MessageType.Broadcast) return ValueTask.CompletedTask;
            var pending = module.OnMessageAsync(link, type, body);
            if (Interlocked.Decrement(ref _left) == 0) _done.Set();
            return pending;
        }

        public void OnClosed(PeerLink link, string reason) { }
    }
}

/// <summary>
/// Two ends of a real loopback TCP connection, wrapped as the node's transport wraps its sockets. In-memory pipes were
/// used before; their 4 KiB segments, hundreds in flight in a burst, overflowed the shared array pool and showed
/// as 50–80 B allocated per message that a socket does not cost.
/// </summary>
internal static class LoopbackConnection
{
    public static (IPeerConnection Dialer, IPeerConnection Listener) Pair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var dialer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accepted = listener.AcceptAsync();
        dialer.Connect(listener.LocalEndPoint!);
        return (TcpPeerTransport.Wrap(dialer), TcpPeerTransport.Wrap(accepted.GetAwaiter().GetResult()));
    }
}
