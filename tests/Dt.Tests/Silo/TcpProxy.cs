using System.Net;
using System.Net.Sockets;

namespace Dt.Tests.Silo;

/// <summary>
/// A loopback TCP forwarder in front of a silo, so a test can cut every connection through it (a dropped network,
/// as the client sees it) and point it at another upstream (a silo restarted elsewhere) without the client knowing.
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(TcpClient A, TcpClient B)> _pairs = [];
    private readonly Task _accepting;
    private int _accepted;

    public TcpProxy(Uri upstream)
    {
        Upstream = upstream;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Upstream { get; set; }

    public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    /// <summary>While true, new connections are closed at once (the silo looks unreachable).</summary>
    public bool Refusing { get; set; }

    /// <summary>While true, nothing is read from the silo: its writes back up until they block (a slow client).</summary>
    public bool HoldResponses { get; set; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Cuts every open connection (both sides see a reset); new ones are still accepted.</summary>
    public void DropAll()
    {
        lock (_pairs)
        {
            foreach (var (a, b) in _pairs)
            {
                a.Client.LingerState = new LingerOption(true, 0);
                b.Client.LingerState = new LingerOption(true, 0);
                a.Dispose();
                b.Dispose();
            }
            _pairs.Clear();
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            Interlocked.Increment(ref _accepted);
            _ = PipeAsync(client);
        }
    }

    private async Task PipeAsync(TcpClient client)
    {
        if (Refusing)
        {
            client.Client.LingerState = new LingerOption(true, 0);
            client.Dispose();
            return;
        }
        var upstream = new TcpClient();
        try
        {
            await upstream.ConnectAsync(Upstream.Host, Upstream.Port, _stop.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            client.Dispose();
            upstream.Dispose();
            return;
        }
        lock (_pairs) _pairs.Add((client, upstream));
        var a = Copy(client, upstream, holdable: false);
        var b = Copy(upstream, client, holdable: true);
        await Task.WhenAny(a, b);
        lock (_pairs) _pairs.Remove((client, upstream));
        client.Dispose();
        upstream.Dispose();
    }

    private async Task Copy(TcpClient from, TcpClient to, bool holdable)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var input = from.GetStream();
            var output = to.GetStream();
            while (true)
            {
                while (holdable && HoldResponses) await Task.Delay(10, _stop.Token);
                int n = await input.ReadAsync(buffer, _stop.Token);
                if (n == 0) return;
                await output.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or SocketException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        DropAll();
        try { await _accepting; } catch { }
    }
}
