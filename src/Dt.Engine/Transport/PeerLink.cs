using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Dt.Protocol;
using Dt.Security;
using Microsoft.Extensions.Logging;

namespace Dt.Transport;

/// <summary>What a link needs to know about its own node.</summary>
internal sealed record LinkContext(
    KeyRing Keys,
    string Network,
    Guid NodeId,
    bool IsMaster,
    ushort ListenPort,
    int MaxFrameBytes,
    long MaxQueueBytes,
    TimeSpan HandshakeTimeout,
    TimeSpan IdleTimeout,
    TimeProvider Time,
    DtMetrics? Metrics = null);

/// <summary>Receives what arrives on links. Calls for one link never overlap.</summary>
internal interface ILinkHandler
{
    /// <summary>One decrypted message; <paramref name="body"/> (after the type byte) is valid only during the call.</summary>
    ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body);

    void OnClosed(PeerLink link, string reason);
}

/// <summary>
/// One authenticated, encrypted TCP link to a peer. Reads whole frames from a <see cref="PipeReader"/>, decrypts
/// them in order and hands them to the handler; writes from one bounded outbound queue drained by a single writer.
/// </summary>
internal sealed class PeerLink : IAsyncDisposable
{
    private const int MaxHandshakeFrame = 256;
    private static long s_nextId;

    private readonly IPeerConnection _connection;
    private readonly Stream _stream;
    private readonly PipeReader _reader;
    private readonly LinkContext _ctx;
    private readonly ILogger _log;
    private readonly FrameCipher _sendCipher;
    private readonly FrameCipher _receiveCipher;
    private readonly OutboundQueue _outbound = new();
    /// <summary>Wakes the writer when a message is queued on an empty queue (a single-reader channel waits without allocating).</summary>
    private readonly WakeSignal _wake = new();
    private readonly CancellationTokenSource _cts = new();
    private readonly SemaphoreSlim _space = new(0);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _queuedBytes;
    private int _closing;
    private ILinkHandler? _handler;
    private Task _readLoop = Task.CompletedTask, _writeLoop = Task.CompletedTask;

    private PeerLink(IPeerConnection connection, PipeReader reader, LinkContext ctx, ILogger log, Hello remote, LinkSecrets secrets, bool isDialer, byte[] keyId)
    {
        KeyId = keyId;
        _connection = connection;
        _stream = connection.Stream;
        _reader = reader;
        _ctx = ctx;
        _log = log;
        _sendCipher = new FrameCipher(secrets.Send);
        _receiveCipher = new FrameCipher(secrets.Receive);
        Id = Interlocked.Increment(ref s_nextId);
        RemoteNodeId = remote.NodeId;
        RemoteIsMaster = remote.IsMaster;
        RemoteListenPort = remote.ListenPort;
        RemoteIsTest = remote.IsTest;
        RemoteDerivesHashes = remote.DerivesHashes;
        IsDialer = isDialer;
        RemoteEndPoint = connection.RemoteEndPoint;
        ConnectedAt = ctx.Time.GetUtcNow();
        LastReceived = ConnectedAt;
    }

    public long Id { get; }

    public Guid RemoteNodeId { get; }

    /// <summary>The id of the network key this link was established with.</summary>
    public byte[] KeyId { get; }

    public bool RemoteIsMaster { get; }

    /// <summary>The port the peer listens on, or 0 if it accepts no inbound links.</summary>
    public ushort RemoteListenPort { get; }

    public bool IsDialer { get; }

    /// <summary>The peer dialed this link only to measure round trips (a node test).</summary>
    public bool RemoteIsTest { get; }

    /// <summary>The peer takes bulk changes without the hashes of the objects they carry (it derives them).</summary>
    public bool RemoteDerivesHashes { get; }

    public IPEndPoint RemoteEndPoint { get; }

    public DateTimeOffset ConnectedAt { get; }

    public DateTimeOffset LastReceived { get; private set; }

    public long BytesSent, BytesReceived;

    /// <summary>Plaintext bytes sent and received per message type (index = type byte).</summary>
    public long[] SentByType { get; } = new long[256];

    public long[] ReceivedByType { get; } = new long[256];

    public bool IsClosed => _closing != 0;

    public Task Closed => _closed.Task;

    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>Opaque slot for the overlay's per-link state.</summary>
    public object? Tag { get; set; }

    /// <summary>Runs the handshake on a connection. Throws <see cref="HandshakeException"/> when the peer is refused.</summary>
    public static async Task<PeerLink> EstablishAsync(IPeerConnection connection, bool isDialer, LinkContext ctx, ILogger log, CancellationToken ct, bool isTest = false)
    {
        var stream = connection.Stream;
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ctx.HandshakeTimeout);
        try
        {
            var hs = new Handshake(isDialer, Handshake.CreateHello(ctx.IsMaster, ctx.Network, ctx.Keys.Primary, ctx.NodeId, ctx.ListenPort, isTest));
            await WritePlainAsync(stream, MessageType.Hello, hs.LocalBytes, timeout.Token);
            byte[] remoteBytes = await ReadPlainAsync(reader, MessageType.Hello, timeout.Token);
            Hello remote;
            try { remote = Hello.Decode(remoteBytes); }
            catch (ProtocolException e) { throw new HandshakeException(HandshakeFailure.Protocol, e.Message); }

            if (remote.NodeId == ctx.NodeId)
                throw new HandshakeException(HandshakeFailure.IsSelf, "the peer is this node itself");
            if (!remote.NetworkTag.AsSpan().SequenceEqual(NetworkKey.NetworkTag(ctx.Network)))
                throw new HandshakeException(HandshakeFailure.WrongNetwork, $"the peer belongs to another network than '{ctx.Network}'");
            // The link runs on the dialer's key: the dialer offers its primary key, the listener accepts any key of its ring.
            bool peerKnowsOurs = ctx.Keys.Find(remote.KeyId) is not null;
            var key = isDialer ? ctx.Keys.Primary : ctx.Keys.Find(remote.KeyId);
            if (key is null)
                throw new HandshakeException(HandshakeFailure.WrongKey, $"the peer uses network key {Convert.ToHexStringLower(remote.KeyId)}, which this node does not hold");
            var secrets = hs.Derive(remote, remoteBytes, key, ctx.Network);
            await WritePlainAsync(stream, MessageType.Confirm, secrets.Confirm(), timeout.Token);
            byte[] proof;
            try { proof = await ReadPlainAsync(reader, MessageType.Confirm, timeout.Token); }
            catch (HandshakeException e) when (isDialer && !peerKnowsOurs && e.Failure == HandshakeFailure.Closed)
            {
                throw new HandshakeException(HandshakeFailure.WrongKey, $"the peer uses network key {Convert.ToHexStringLower(remote.KeyId)} and refused ours");
            }
            if (!secrets.VerifyPeerConfirm(proof))
                throw new HandshakeException(HandshakeFailure.BadProof, "the peer could not prove it holds the network key");
            // Each side sent and received one hello and one confirm frame (header and type byte included).
            long handshakeBytes = 2 * FrameCodec.HeaderSize + 2 + Hello.Size + proof.Length;
            ctx.Metrics?.BytesSent(handshakeBytes);
            ctx.Metrics?.BytesReceived(handshakeBytes);
            return new PeerLink(connection, reader, ctx, log, remote, secrets, isDialer, key.Id) { BytesSent = handshakeBytes, BytesReceived = handshakeBytes };
        }
        catch (Exception e) when (e is not HandshakeException)
        {
            await reader.CompleteAsync();
            connection.Dispose();
            if (e is OperationCanceledException && !ct.IsCancellationRequested)
                throw new HandshakeException(HandshakeFailure.Timeout, $"no handshake within {ctx.HandshakeTimeout.TotalSeconds:0.#} s");
            if (e is OperationCanceledException) throw;
            throw new HandshakeException(HandshakeFailure.Closed, e.Message);
        }
        catch
        {
            await reader.CompleteAsync();
            connection.Dispose();
            throw;
        }
    }

    private static async Task WritePlainAsync(Stream stream, MessageType type, byte[] body, CancellationToken ct)
    {
        var frame = new byte[FrameCodec.HeaderSize + 1 + body.Length];
        FrameCodec.WriteHeader(frame, 1 + body.Length);
        frame[4] = (byte)type;
        body.CopyTo(frame, 5);
        await stream.WriteAsync(frame, ct);
    }

    private static async Task<byte[]> ReadPlainAsync(PipeReader reader, MessageType expected, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            var status = FrameCodec.TryRead(ref buffer, MaxHandshakeFrame, out var body);
            if (status == FrameReadResult.TooLarge)
                throw new HandshakeException(HandshakeFailure.Protocol, "oversized handshake frame (not a Dt peer?)");
            if (status == FrameReadResult.Frame)
            {
                byte[] bytes = body.ToArray();
                reader.AdvanceTo(buffer.Start);
                if (bytes.Length == 0 || bytes[0] != (byte)expected)
                    throw new HandshakeException(HandshakeFailure.Protocol, $"expected {expected} in the handshake");
                return bytes[1..];
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
                throw new HandshakeException(HandshakeFailure.Closed, "the peer closed the connection during the handshake");
        }
    }

    public void Start(ILinkHandler handler)
    {
        _handler = handler;
        _readLoop = Task.Run(ReadLoopAsync);
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    /// <summary>Queues a message (type byte first). If the peer's queue is over its cap the link is closed: a peer that
    /// cannot keep up is cut and re-syncs by reconciliation when it returns. Returns false if not queued.</summary>
    public bool TrySend(ReadOnlySpan<byte> message) => TrySend((MessageType)message[0], message[1..]);

    /// <summary>Queues a message given as its type and the bytes after the type byte (so a relay forwards what it received as is).</summary>
    public bool TrySend(MessageType type, ReadOnlySpan<byte> body)
    {
        if (_closing != 0) return false;
        int length = 1 + body.Length;
        if (length + FrameCipher.TagSize > _ctx.MaxFrameBytes)
            throw new ArgumentException($"message of {length} bytes exceeds the frame limit");
        if (Interlocked.Read(ref _queuedBytes) + length > _ctx.MaxQueueBytes)
        {
            Close($"outbound queue over {_ctx.MaxQueueBytes} bytes (peer too slow)");
            return false;
        }
        Interlocked.Add(ref _queuedBytes, length);
        if (!_outbound.TryAppend((byte)type, body, out bool wasEmpty))
        {
            Interlocked.Add(ref _queuedBytes, -length);
            return false;
        }
        Interlocked.Add(ref SentByType[(byte)type], length);
        if (wasEmpty) _wake.Set();
        return true;
    }

    /// <summary>
    /// What a bulk sender lets wait in the queue before it waits itself. A few frames keep the socket's own buffer
    /// full (on loopback and on a long fat link alike, where the kernel buffers the rest); more bought no speed and
    /// left each frame's buffer in the shared array pool afterwards (a 1M-object sync left 60 MB of them there).
    /// </summary>
    internal const long BulkWindowBytes = 4L << 20;

    /// <summary>
    /// Queues a message, first waiting while the queue holds more than <see cref="BulkWindowBytes"/> (or half its cap,
    /// if smaller): bulk transfers use this. A message is never held back by an empty queue, whatever its size.
    /// </summary>
    public async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct = default)
    {
        long window = Math.Min(BulkWindowBytes, _ctx.MaxQueueBytes / 2);
        while (_closing == 0 && Interlocked.Read(ref _queuedBytes) is var queued && queued > 0 && queued + message.Length > window)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _cts.Token);
            try { await _space.WaitAsync(TimeSpan.FromMilliseconds(100), linked.Token); }
            catch (OperationCanceledException) { return false; }
        }
        return TrySend(message.Span);
    }

    /// <summary>Sealed frames are gathered up to this before one socket write.</summary>
    private const int WriteBytes = 256 * 1024;

    private void Seal(ArrayBufferWriter<byte> batch, ReadOnlySpan<byte> plaintext)
    {
        int bodyLength = plaintext.Length + FrameCipher.TagSize;
        var span = batch.GetSpan(FrameCodec.HeaderSize + bodyLength);
        FrameCodec.WriteHeader(span, bodyLength);
        _sendCipher.Seal(span[..FrameCodec.HeaderSize], plaintext, span.Slice(FrameCodec.HeaderSize, bodyLength));
        batch.Advance(FrameCodec.HeaderSize + bodyLength);
    }

    /// <summary>
    /// Takes everything queued at once and seals it segment by segment: while a write is under way, senders fill the
    /// next segments, so a loaded link seals full 64 KiB bundles; an idle link seals and writes a lone message at once.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        var batch = new ArrayBufferWriter<byte>(WriteBytes);
        var taken = new List<OutboundQueue.Segment>();
        int next = 0;
        try
        {
            while (await _wake.WaitAsync())
            {
                _outbound.TakeAll(ref taken);
                next = 0;
                while (next < taken.Count)
                {
                    batch.ResetWrittenCount();
                    long drained = 0;
                    while (next < taken.Count && batch.WrittenCount < WriteBytes)
                    {
                        var s = taken[next++];
                        Seal(batch, s.Plaintext);
                        drained += s.MessageBytes;
                        ArrayPool<byte>.Shared.Return(s.Buffer);
                    }
                    await _stream.WriteAsync(batch.WrittenMemory, _cts.Token);
                    Interlocked.Add(ref BytesSent, batch.WrittenCount);
                    _ctx.Metrics?.BytesSent(batch.WrittenCount);
                    Interlocked.Add(ref _queuedBytes, -drained);
                    if (_space.CurrentCount == 0) _space.Release();
                }
                taken.Clear();
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            Close($"write failed: {e.Message}");
        }
        catch (Exception e)
        {
            Close($"write loop failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            for (int i = next; i < taken.Count; i++) ArrayPool<byte>.Shared.Return(taken[i].Buffer);
            taken.Clear();
            _outbound.Complete();
        }
    }

    private async Task ReadLoopAsync()
    {
        string reason = "closed by peer";
        byte[] plain = ArrayPool<byte>.Shared.Rent(64 * 1024);
        byte[] contiguous = [];
        byte[] hdr = new byte[FrameCodec.HeaderSize];
        try
        {
            while (true)
            {
                var result = await _reader.ReadAsync(_cts.Token);
                var buffer = result.Buffer;
                while (true)
                {
                    var status = FrameCodec.TryRead(ref buffer, _ctx.MaxFrameBytes, out var body);
                    if (status == FrameReadResult.TooLarge)
                        throw new ProtocolException($"frame longer than {_ctx.MaxFrameBytes} bytes");
                    if (status == FrameReadResult.NeedMore) break;
                    int n = (int)body.Length;
                    if (n < FrameCipher.TagSize + 1) throw new ProtocolException("frame too short");
                    ReadOnlySpan<byte> bodySpan;
                    if (body.IsSingleSegment) bodySpan = body.FirstSpan;
                    else
                    {
                        if (contiguous.Length < n)
                        {
                            if (contiguous.Length > 0) ArrayPool<byte>.Shared.Return(contiguous);
                            contiguous = ArrayPool<byte>.Shared.Rent(n);
                        }
                        body.CopyTo(contiguous);
                        bodySpan = contiguous.AsSpan(0, n);
                    }
                    if (plain.Length < n)
                    {
                        ArrayPool<byte>.Shared.Return(plain);
                        plain = ArrayPool<byte>.Shared.Rent(n);
                    }
                    FrameCodec.WriteHeader(hdr, n);
                    if (!_receiveCipher.TryOpen(hdr, bodySpan, plain))
                        throw new ProtocolException("frame failed authentication (altered, replayed or out of order)");
                    Interlocked.Add(ref BytesReceived, FrameCodec.HeaderSize + n);
                    _ctx.Metrics?.BytesReceived(FrameCodec.HeaderSize + n);
                    LastReceived = _ctx.Time.GetUtcNow();
                    int plainLength = n - FrameCipher.TagSize;
                    if (plain[0] == (byte)MessageType.Bundle)
                    {
                        int at = 1;
                        while (at < plainLength)
                        {
                            var (start, length) = NextInBundle(plain.AsSpan(0, plainLength), ref at);
                            Interlocked.Add(ref ReceivedByType[plain[start]], length);
                            await _handler!.OnMessageAsync(this, (MessageType)plain[start], plain.AsMemory(start + 1, length - 1));
                        }
                        continue;
                    }
                    Interlocked.Add(ref ReceivedByType[plain[0]], plainLength);
                    await _handler!.OnMessageAsync(this, (MessageType)plain[0], plain.AsMemory(1, plainLength - 1));
                }
                _reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (OperationCanceledException) { reason = "closed"; }
        catch (ProtocolException e) { reason = $"protocol error: {e.Message}"; }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { reason = $"read failed: {e.Message}"; }
        catch (Exception e) { reason = $"handler failed: {e.GetType().Name}: {e.Message}"; }
        finally
        {
            ArrayPool<byte>.Shared.Return(plain);
            if (contiguous.Length > 0) ArrayPool<byte>.Shared.Return(contiguous);
        }
        Close(reason);
    }

    /// <summary>The next message of a bundle: where it starts and how long it is (at least its type byte).</summary>
    private static (int Start, int Length) NextInBundle(ReadOnlySpan<byte> plain, ref int at)
    {
        var r = new WireReader(plain[at..]);
        int length = r.Count(plain.Length, 1);
        int start = at + (plain.Length - at - r.Remaining);
        if (length < 1 || plain[start] == (byte)MessageType.Bundle) throw new ProtocolException("malformed bundle");
        at = start + length;
        return (start, length);
    }

    /// <summary>Closes the link once; the handler hears of it once.</summary>
    public void Close(string reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0) return;
        _wake.Complete();
        _outbound.Complete();
        _cts.Cancel();
        _connection.Abort();
        _ = Task.Run(async () =>
        {
            try { await Task.WhenAll(_readLoop, _writeLoop).WaitAsync(TimeSpan.FromSeconds(5)); } catch { /* loops end on their own */ }
            await _reader.CompleteAsync();
            _sendCipher.Dispose();
            _receiveCipher.Dispose();
            _handler?.OnClosed(this, reason);
            _closed.TrySetResult();
        });
    }

    public async ValueTask DisposeAsync()
    {
        Close("disposed");
        await _closed.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
    }

    public override string ToString() => $"{RemoteNodeId.ToString()[..8]}@{RemoteEndPoint}";
}

internal enum HandshakeFailure { IsSelf, WrongNetwork, WrongKey, BadProof, Protocol, Timeout, Closed }

internal static class HandshakeFailures
{
    /// <summary>The reason a refused handshake is counted under (<see cref="HandshakeFailure.IsSelf"/> is no refusal).</summary>
    public static RefusalReason ToRefusal(this HandshakeFailure failure) => failure switch
    {
        HandshakeFailure.WrongNetwork => RefusalReason.WrongNetwork,
        HandshakeFailure.WrongKey => RefusalReason.WrongKey,
        HandshakeFailure.BadProof => RefusalReason.BadProof,
        HandshakeFailure.Protocol => RefusalReason.Protocol,
        HandshakeFailure.Timeout => RefusalReason.Timeout,
        _ => RefusalReason.Closed,
    };
}

/// <summary>A peer refused during the handshake, with why.</summary>
internal sealed class HandshakeException(HandshakeFailure failure, string message) : Exception(message)
{
    public HandshakeFailure Failure { get; } = failure;

    /// <summary>Failures that suggest a hostile or misconfigured peer and count toward blocking its IP.</summary>
    public bool CountsAgainstPeer => Failure is HandshakeFailure.WrongNetwork or HandshakeFailure.WrongKey or HandshakeFailure.BadProof or HandshakeFailure.Protocol or HandshakeFailure.Timeout;
}
