using System.Net;

namespace Dt.Transport;

/// <summary>
/// How a node reaches peers and is reached by them: the seam under <see cref="PeerLink"/> (hashicorp/memberlist's
/// Transport). <see cref="TcpPeerTransport"/> is the real one; <see cref="InMemory.InMemoryNetwork"/> gives tests a
/// network of many nodes in one process that can drop, delay, cut and partition links on a driven clock.
/// </summary>
internal interface IPeerTransport
{
    /// <summary>Starts accepting connections on <paramref name="endpoint"/> (port 0: any free port).</summary>
    IPeerListener Listen(IPEndPoint endpoint);

    /// <summary>Connects to a peer by host (an address or a name) and port; throws when it cannot.</summary>
    Task<IPeerConnection> DialAsync(string host, int port, CancellationToken ct);
}

internal interface IPeerListener : IDisposable
{
    IPEndPoint LocalEndPoint { get; }

    /// <summary>The next connection a peer made; throws <see cref="ObjectDisposedException"/> once disposed.</summary>
    ValueTask<IPeerConnection> AcceptAsync(CancellationToken ct);
}

/// <summary>One connected, reliable, ordered byte stream to a peer.</summary>
internal interface IPeerConnection : IDisposable
{
    Stream Stream { get; }

    IPEndPoint RemoteEndPoint { get; }

    /// <summary>Ends the connection at once, both directions; the peer reads its end.</summary>
    void Abort();
}
