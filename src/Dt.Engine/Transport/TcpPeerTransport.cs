using System.Net;
using System.Net.Sockets;

namespace Dt.Transport;

/// <summary>Peers over TCP sockets: listeners dual-mode on "::", dials to every address a name resolves to, Nagle off.</summary>
internal sealed class TcpPeerTransport : IPeerTransport
{
    public static TcpPeerTransport Instance { get; } = new();

    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>A connection over a socket connected elsewhere (tests that speak to a node directly).</summary>
    public static IPeerConnection Wrap(Socket connected) => new Connection(connected);

    public IPeerListener Listen(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (endpoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = true;
        try
        {
            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new Listener(socket);
    }

    public async Task<IPeerConnection> DialAsync(string host, int port, CancellationToken ct)
    {
        IPAddress[] addresses = IPAddress.TryParse(host, out var ip) ? [ip] : await Dns.GetHostAddressesAsync(host, ct);
        Exception? last = null;
        foreach (var a in addresses)
        {
            var socket = new Socket(a.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(ConnectTimeout);
                await socket.ConnectAsync(new IPEndPoint(a, port), timeout.Token);
                return new Connection(socket);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                socket.Dispose();
                last = e is OperationCanceledException ? new TimeoutException("connect timed out") : e;
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    private sealed class Listener(Socket socket) : IPeerListener
    {
        public IPEndPoint LocalEndPoint { get; } = (IPEndPoint)socket.LocalEndPoint!;

        public async ValueTask<IPeerConnection> AcceptAsync(CancellationToken ct) => new Connection(await socket.AcceptAsync(ct));

        public void Dispose() => socket.Dispose();
    }

    private sealed class Connection : IPeerConnection
    {
        private readonly Socket _socket;

        public Connection(Socket socket)
        {
            _socket = socket;
            socket.NoDelay = true;
            RemoteEndPoint = (IPEndPoint)socket.RemoteEndPoint!;
            Stream = new NetworkStream(socket, ownsSocket: true);
        }

        public Stream Stream { get; }

        public IPEndPoint RemoteEndPoint { get; }

        public void Abort()
        {
            try { _socket.Shutdown(SocketShutdown.Both); } catch { /* already gone */ }
            _socket.Dispose();
        }

        public void Dispose() => Stream.Dispose();
    }
}
