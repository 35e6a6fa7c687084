using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Dt.Dns.Wire;
using Microsoft.Extensions.Logging;

namespace Dt.Dns.Server;

/// <summary>
/// The DNS transports. UDP: <see cref="DnsOptions.UdpReceivers"/> sockets bound to the same address and port with
/// SO_REUSEPORT (the kernel spreads clients over them by address hash; where the option is missing, one socket), each
/// served by its own thread that receives, answers inline and sends with blocking calls (no queue: concurrency is the
/// number of sockets, and each socket's kernel buffer is the only backlog; no allocation per answered query beyond what
/// the query engine needs). UPDATEs go to a bounded queue (<see cref="DnsOptions.UpdateQueueSize"/>; when full they get
/// SERVFAIL) and one worker. TCP (RFC 7766): at most <see cref="DnsOptions.MaxTcpConnections"/> connections, 2-byte
/// length framing, several queries per connection answered in order, an idle timeout, AXFR/IXFR streamed.
/// </summary>
internal sealed class DnsServer : IAsyncDisposable
{
    private const int SolSocket = 1, SoReusePort = 15; // Linux <asm-generic/socket.h>

    private readonly DnsOptions _options;
    private readonly QueryEngine _engine;
    private readonly ZoneTransfer _transfer;
    private readonly UpdateProcessor _update;
    private readonly ILogger _log;
    private readonly DnsMetrics? _metrics;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly List<Thread> _udpThreads = [];
    private readonly Channel<(DnsMessage Message, byte[] Raw, SocketAddress From, Socket Via)> _updates;
    private readonly HashSet<Socket> _connections = [];
    private readonly List<Socket> _udp = [];
    private Socket? _tcp;
    private int _open;

    private readonly ResponseRateLimiter? _rrl;

    public DnsServer(DnsOptions options, QueryEngine engine, ZoneTransfer transfer, UpdateProcessor update, ILogger log, DnsMetrics? metrics = null,
        ResponseRateLimiter? rateLimiter = null)
    {
        _metrics = metrics;
        _rrl = rateLimiter;
        _options = options;
        _engine = engine;
        _transfer = transfer;
        _update = update;
        _log = log;
        _updates = Channel.CreateBounded<(DnsMessage, byte[], SocketAddress, Socket)>(new BoundedChannelOptions(options.UpdateQueueSize)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    public IPEndPoint UdpEndPoint => (IPEndPoint)_udp[0].LocalEndPoint!;

    public IPEndPoint TcpEndPoint => (IPEndPoint)_tcp!.LocalEndPoint!;

    /// <summary>The UDP sockets answering (one per receiver where SO_REUSEPORT exists).</summary>
    public int UdpSockets => _udp.Count;

    /// <summary>Binds UDP and TCP on the same port (with port 0, a free port both can use).</summary>
    public void Bind()
    {
        var address = IPAddress.Parse(_options.ListenAddress);
        int wanted = _options.EffectiveUdpReceivers;
        for (int attempt = 0; ; attempt++)
        {
            var udp = new List<Socket>();
            var tcp = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                int port = _options.Port;
                bool reusePort = wanted > 1 && OperatingSystem.IsLinux();
                // SO_REUSEPORT would let this group share a fixed port with another process's group (same user)
                // and split its queries; a plain bind first fails as usual when the port is taken.
                if (reusePort && port != 0)
                    using (var probe = NewUdpSocket(address, reusePort: false))
                        probe.Bind(new IPEndPoint(address, port));
                for (int i = 0; i < (reusePort ? wanted : 1); i++)
                {
                    var u = NewUdpSocket(address, reusePort);
                    udp.Add(u);
                    u.Bind(new IPEndPoint(address, port));
                    port = ((IPEndPoint)u.LocalEndPoint!).Port;
                }
                if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.Equals(IPAddress.IPv6Any)) tcp.DualMode = true;
                tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                tcp.NoDelay = true;
                tcp.Bind(new IPEndPoint(address, port));
                tcp.Listen(512);
                _udp.AddRange(udp);
                _tcp = tcp;
                return;
            }
            catch (SocketException) when (_options.Port == 0 && attempt < 20)
            {
                foreach (var u in udp) u.Dispose();
                tcp.Dispose();
            }
            catch
            {
                foreach (var u in udp) u.Dispose();
                tcp.Dispose();
                throw;
            }
        }
    }

    private static Socket NewUdpSocket(IPAddress address, bool reusePort)
    {
        var udp = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.Equals(IPAddress.IPv6Any)) udp.DualMode = true;
            udp.ReceiveBufferSize = 4 << 20;
            if (reusePort) udp.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            return udp;
        }
        catch
        {
            udp.Dispose();
            throw;
        }
    }

    public void Start()
    {
        // One socket: the receivers share it (each thread blocks in its own recvfrom). Several: one thread each.
        int threads = _udp.Count == 1 ? _options.EffectiveUdpReceivers : _udp.Count;
        for (int i = 0; i < threads; i++)
        {
            var socket = _udp[i % _udp.Count];
            var t = new Thread(() => UdpLoop(socket)) { IsBackground = true, Name = $"dt-dns-udp-{i}" };
            _udpThreads.Add(t);
            t.Start();
        }
        _loops.Add(Task.Run(UpdateLoopAsync));
        _loops.Add(Task.Run(AcceptLoopAsync));
    }

    private void UdpLoop(Socket socket)
    {
        var ct = _stop.Token;
        var buffer = new byte[65535];
        var w = new DnsWriter(65535);
        var from = new SocketAddress(socket.AddressFamily);
        var cache = new AnswerCache(_options.AnswerCacheSize);
        while (!ct.IsCancellationRequested)
        {
            int n;
            try
            {
                n = socket.ReceiveFrom(buffer, SocketFlags.None, from);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                if (ct.IsCancellationRequested) return;
                if (e.SocketErrorCode is not (SocketError.ConnectionReset or SocketError.MessageSize)) DnsLog.UdpFailed(_log, e.Message);
                continue;
            }
            try
            {
                var kind = _engine.Handle(buffer.AsSpan(0, n), tcp: false, w, out var message, cache);
                switch (kind)
                {
                    case RequestKind.Respond:
                        var verdict = _rrl?.Check(from) ?? RateVerdict.Send;
                        if (verdict == RateVerdict.Drop) break;
                        if (verdict == RateVerdict.Slip) ResponseRateLimiter.Truncate(w);
                        _metrics?.Answered(false, w.Written);
                        SendTo(socket, w.Written, from);
                        break;
                    case RequestKind.Update:
                        var copy = new SocketAddress(from.Family, from.Size);
                        from.Buffer.CopyTo(copy.Buffer);
                        if (!_updates.Writer.TryWrite((message!, buffer.AsSpan(0, n).ToArray(), copy, socket)))
                        {
                            DnsLog.UpdateQueueFull(_log, Remote(from), _options.UpdateQueueSize);
                            _engine.WriteError(w, message!.Id, message.Flags, message.Question, DnsRcode.ServFail, null, tcp: false);
                            _metrics?.Answered(false, w.Written);
                            SendTo(socket, w.Written, from);
                        }
                        break;
                }
            }
            catch (ObjectDisposedException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                // The client went away, or the socket is closing; nothing to answer.
            }
            catch (Exception e)
            {
                DnsLog.RequestFailed(_log, Remote(from), e.ToString());
            }
        }
    }

    /// <summary>
    /// Sends one UDP answer with the synchronous call. Not <c>SendToAsync(..., SocketAddress, ...)</c>: in .NET 10
    /// (10.0.12) that method clears the address of the socket's cached SocketAsyncEventArgs in a <c>finally</c> that
    /// runs after a synchronously completed send already returned it to the cache, so a send started meanwhile by
    /// another thread on the same socket finds its address gone and throws NullReferenceException from
    /// <c>DoOperationSendTo</c> (seen under saturation; DnsLoadTests reproduce it). A UDP send on loopback or a LAN
    /// completes at once; when the socket buffer is full it blocks this thread briefly, which is the back-pressure wanted.
    /// </summary>
    private static void SendTo(Socket socket, ReadOnlySpan<byte> datagram, SocketAddress to) =>
        socket.SendTo(datagram, SocketFlags.None, to);

    private static string Remote(SocketAddress a)
    {
        try
        {
            return ToEndPoint(a).ToString();
        }
        catch (Exception)
        {
            return "?";
        }
    }

    private static IPEndPoint ToEndPoint(SocketAddress a) => (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(a);

    private async Task UpdateLoopAsync()
    {
        var ct = _stop.Token;
        try
        {
            await foreach (var (message, raw, from, via) in _updates.Reader.ReadAllAsync(ct))
            {
                var ep = ToEndPoint(from);
                try
                {
                    var response = await _update.ProcessAsync(message, raw, ep.Address, ct);
                    _metrics?.Answered(false, response);
                    SendTo(via, response, from);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    DnsLog.RequestFailed(_log, ep.ToString(), e.ToString());
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task AcceptLoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _tcp!.AcceptAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                DnsLog.AcceptFailed(_log, e.Message);
                continue;
            }
            if (Interlocked.Increment(ref _open) > _options.MaxTcpConnections)
            {
                Interlocked.Decrement(ref _open);
                DnsLog.TcpLimit(_log, client.RemoteEndPoint?.ToString() ?? "?", _options.MaxTcpConnections);
                client.Dispose();
                continue;
            }
            lock (_connections) _connections.Add(client);
            _ = Task.Run(() => ConnectionAsync(client));
        }
    }

    private async Task ConnectionAsync(Socket client)
    {
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        string reason = "closed by the client";
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var ct = idle.Token;
        var stream = new NetworkStream(client, ownsSocket: false);
        var w = new DnsWriter(65535);
        var length = new byte[2];
        var buffer = new byte[65535];
        var framed = new byte[65537];
        try
        {
            client.NoDelay = true;
            while (true)
            {
                idle.CancelAfter(_options.TcpIdleTimeout);
                int got = await stream.ReadAtLeastAsync(length, 2, throwOnEndOfStream: false, ct);
                if (got == 0) break;
                if (got < 2) { reason = "closed inside a length prefix"; break; }
                int n = BinaryPrimitives.ReadUInt16BigEndian(length);
                await stream.ReadExactlyAsync(buffer.AsMemory(0, n), ct);
                var kind = _engine.Handle(buffer.AsSpan(0, n), tcp: true, w, out var message);
                switch (kind)
                {
                    case RequestKind.Respond:
                        _metrics?.Answered(true, w.Written);
                        await WriteFramedAsync(stream, framed, w.Written, ct);
                        break;
                    case RequestKind.Transfer:
                        // A transfer may take longer than the idle timeout; it is bounded by the client reading it.
                        idle.CancelAfter(Timeout.InfiniteTimeSpan);
                        await _transfer.WriteAsync(message!, buffer.AsMemory(0, n), remote.Address, stream, w, _engine, ct);
                        break;
                    case RequestKind.Update:
                        var response = await _update.ProcessAsync(message!, buffer.AsSpan(0, n).ToArray(), remote.Address, ct);
                        _metrics?.Answered(true, response);
                        await WriteFramedAsync(stream, framed, response, ct);
                        break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            reason = _stop.IsCancellationRequested ? "server stopping" : "idle timeout";
        }
        catch (EndOfStreamException)
        {
            reason = "closed inside a message";
        }
        catch (IOException e)
        {
            reason = e.Message;
        }
        catch (SocketException e)
        {
            reason = e.Message;
        }
        catch (Exception e)
        {
            reason = e.Message;
            DnsLog.RequestFailed(_log, remote.ToString(), e.ToString());
        }
        finally
        {
            DnsLog.TcpEnded(_log, remote.ToString(), reason);
            await stream.DisposeAsync();
            lock (_connections) _connections.Remove(client);
            client.Dispose();
            Interlocked.Decrement(ref _open);
        }
    }

    /// <summary>Writes one message with its 2-byte length through the connection's own framing buffer (no allocation).</summary>
    private static ValueTask WriteFramedAsync(Stream stream, byte[] framed, ReadOnlySpan<byte> message, CancellationToken ct)
    {
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)message.Length);
        message.CopyTo(framed.AsSpan(2));
        return stream.WriteAsync(framed.AsMemory(0, message.Length + 2), ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _updates.Writer.TryComplete();
        foreach (var u in _udp) u.Dispose();
        _tcp?.Dispose();
        lock (_connections)
            foreach (var c in _connections) c.Dispose();
        try { await Task.WhenAll(_loops); } catch (Exception) { /* stopping */ }
        foreach (var t in _udpThreads) t.Join(TimeSpan.FromSeconds(5)); // closing a socket wakes its blocked receive
        _stop.Dispose();
    }
}
