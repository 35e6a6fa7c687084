using System.Net;
using System.Net.Sockets;

namespace Dt.Transport.InMemory;

/// <summary>
/// A network of hosts inside one process (memberlist's mock transport, with faults): each host has an address
/// (10.0.x.y) and a <see cref="IPeerTransport"/>; connections are pairs of bounded in-memory byte streams. Faults:
/// <see cref="Partition"/> (dials across refused, links across cut, until <see cref="Heal"/>), <see cref="Cut"/> (the
/// links between two hosts end now; new dials work), <see cref="Crash"/> (a host drops off the network as a killed
/// process would), <see cref="Delay"/> (bytes from one host to another arrive later on the network's clock) and
/// <see cref="DialFailureRate"/> (dials that fail at random, from a seeded generator, so a run can be repeated).
/// Addresses are literal: there are no names to resolve.
/// </summary>
internal sealed class InMemoryNetwork(TimeProvider time, int seed = 1)
{
    /// <summary>Chunks in flight per direction before a writer waits (backpressure, as a TCP window).</summary>
    internal const int StreamCapacity = 256;

    private readonly Lock _lock = new();
    private readonly Random _random = new(seed);
    private readonly Dictionary<IPEndPoint, Listener> _listeners = [];
    private readonly List<Connection> _connections = [];
    private readonly HashSet<(IPAddress, IPAddress)> _partitioned = [];
    private readonly HashSet<IPAddress> _crashed = [];
    private readonly Dictionary<(IPAddress From, IPAddress To), TimeSpan> _delays = [];
    private int _hosts;
    private int _nextPort = 40_000;
    private long _dials, _refused;

    public TimeProvider Time { get; } = time;

    /// <summary>Share of dials that fail (0 to 1), drawn from the seeded generator.</summary>
    public double DialFailureRate { get; set; }

    public long Dials => Interlocked.Read(ref _dials);

    public long RefusedDials => Interlocked.Read(ref _refused);

    /// <summary>A new host's address.</summary>
    public IPAddress AddHost()
    {
        int n;
        lock (_lock) n = ++_hosts;
        return new IPAddress([10, 0, (byte)(n >> 8), (byte)(n & 0xff)]);
    }

    /// <summary>The transport of the host at <paramref name="address"/>: what it listens and dials with.</summary>
    public IPeerTransport TransportOf(IPAddress address) => new HostTransport(this, address);

    /// <summary>No host of one side reaches a host of the other until <see cref="Heal"/>; links across end now.</summary>
    public void Partition(IEnumerable<IPAddress> sideA, IEnumerable<IPAddress> sideB)
    {
        var b = sideB.ToList();
        lock (_lock)
            foreach (var x in sideA)
                foreach (var y in b)
                {
                    _partitioned.Add((x, y));
                    _partitioned.Add((y, x));
                }
        AbortWhere(c => IsPartitioned(c.From, c.To));
    }

    /// <summary>Ends every partition.</summary>
    public void Heal()
    {
        lock (_lock) _partitioned.Clear();
    }

    /// <summary>The links between two hosts end now (both may dial again).</summary>
    public void Cut(IPAddress a, IPAddress b) => AbortWhere(c => (c.From.Equals(a) && c.To.Equals(b)) || (c.From.Equals(b) && c.To.Equals(a)));

    /// <summary>The host drops off the network: its links end without a word, nothing reaches it and it reaches nothing.</summary>
    public void Crash(IPAddress host)
    {
        lock (_lock) _crashed.Add(host);
        AbortWhere(c => c.From.Equals(host) || c.To.Equals(host));
    }

    /// <summary>Bytes from <paramref name="from"/> to <paramref name="to"/> arrive <paramref name="delay"/> later (zero: at once).</summary>
    public void Delay(IPAddress from, IPAddress to, TimeSpan delay)
    {
        lock (_lock)
            if (delay <= TimeSpan.Zero) _delays.Remove((from, to));
            else _delays[(from, to)] = delay;
    }

    private bool IsPartitioned(IPAddress a, IPAddress b)
    {
        lock (_lock) return _partitioned.Contains((a, b)) || _crashed.Contains(a) || _crashed.Contains(b);
    }

    private TimeSpan DelayOf(IPAddress from, IPAddress to)
    {
        lock (_lock) return _delays.GetValueOrDefault((from, to));
    }

    private void AbortWhere(Func<Connection, bool> which)
    {
        List<Connection> cut;
        lock (_lock) cut = _connections.Where(which).ToList();
        foreach (var c in cut) c.Abort();
    }

    private IPeerListener Listen(IPAddress host, IPEndPoint endpoint)
    {
        if (!endpoint.Address.Equals(host) && !endpoint.Address.Equals(IPAddress.Any) && !endpoint.Address.Equals(IPAddress.IPv6Any))
            throw new SocketException((int)SocketError.AddressNotAvailable);
        lock (_lock)
        {
            int port = endpoint.Port;
            if (port == 0)
                do port = _nextPort++; while (_listeners.ContainsKey(new IPEndPoint(host, port)));
            var at = new IPEndPoint(host, port);
            if (_listeners.ContainsKey(at)) throw new SocketException((int)SocketError.AddressAlreadyInUse);
            var listener = new Listener(this, at);
            _listeners[at] = listener;
            return listener;
        }
    }

    private void Unlisten(Listener listener)
    {
        lock (_lock) _listeners.Remove(listener.LocalEndPoint);
    }

    private Task<IPeerConnection> Dial(IPAddress from, string host, int port)
    {
        Interlocked.Increment(ref _dials);
        if (!IPAddress.TryParse(host, out var to)) return Refuse(SocketError.HostNotFound);
        if (to.IsIPv4MappedToIPv6) to = to.MapToIPv4();
        Listener? listener;
        int localPort;
        lock (_lock)
        {
            if (_partitioned.Contains((from, to)) || _crashed.Contains(from) || _crashed.Contains(to)) listener = null;
            else if (DialFailureRate > 0 && _random.NextDouble() < DialFailureRate) return Refuse(SocketError.ConnectionReset);
            else _listeners.TryGetValue(new IPEndPoint(to, port), out listener);
            localPort = _nextPort++;
        }
        if (listener is null) return Refuse(SocketError.ConnectionRefused);
        var dialerEnd = new IPEndPoint(from, localPort);
        var toListener = new ByteStream(this, DelayOf(from, to));
        var toDialer = new ByteStream(this, DelayOf(to, from));
        var dialerSide = new Connection(this, from, to, listener.LocalEndPoint, input: toDialer, output: toListener);
        var listenerSide = new Connection(this, from, to, dialerEnd, input: toListener, output: toDialer);
        lock (_lock)
        {
            _connections.Add(dialerSide);
            _connections.Add(listenerSide);
        }
        dialerSide.Peer = listenerSide;
        listenerSide.Peer = dialerSide;
        if (!listener.Offer(listenerSide))
        {
            dialerSide.Abort();
            return Refuse(SocketError.ConnectionRefused);
        }
        return Task.FromResult<IPeerConnection>(dialerSide);
    }

    private Task<IPeerConnection> Refuse(SocketError error)
    {
        Interlocked.Increment(ref _refused);
        return Task.FromException<IPeerConnection>(new SocketException((int)error));
    }

    private void Forget(Connection c)
    {
        lock (_lock) _connections.Remove(c);
    }

    private sealed class HostTransport(InMemoryNetwork network, IPAddress host) : IPeerTransport
    {
        public IPeerListener Listen(IPEndPoint endpoint) => network.Listen(host, endpoint);

        public Task<IPeerConnection> DialAsync(string target, int port, CancellationToken ct) => network.Dial(host, target, port);
    }

    private sealed class Listener(InMemoryNetwork network, IPEndPoint at) : IPeerListener
    {
        private readonly System.Threading.Channels.Channel<IPeerConnection> _backlog =
            System.Threading.Channels.Channel.CreateBounded<IPeerConnection>(new System.Threading.Channels.BoundedChannelOptions(512)
            {
                FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite,
            });

        public IPEndPoint LocalEndPoint { get; } = at;

        public bool Offer(IPeerConnection c) => _backlog.Writer.TryWrite(c);

        public async ValueTask<IPeerConnection> AcceptAsync(CancellationToken ct)
        {
            try { return await _backlog.Reader.ReadAsync(ct); }
            catch (System.Threading.Channels.ChannelClosedException) { throw new ObjectDisposedException(nameof(Listener)); }
        }

        public void Dispose()
        {
            network.Unlisten(this);
            _backlog.Writer.TryComplete();
            while (_backlog.Reader.TryRead(out var c)) c.Abort();
        }
    }

    /// <summary>One end of a connection: reads what the other end wrote, writes what it reads.</summary>
    private sealed class Connection(InMemoryNetwork network, IPAddress from, IPAddress to, IPEndPoint remote, ByteStream input, ByteStream output) : IPeerConnection
    {
        private int _aborted;

        /// <summary>The dialing host and the listening host (the same for both ends).</summary>
        public IPAddress From { get; } = from;

        public IPAddress To { get; } = to;

        public Connection? Peer { get; set; }

        public Stream Stream { get; } = new DuplexStream(input, output);

        public IPEndPoint RemoteEndPoint { get; } = remote;

        /// <summary>Both directions end: each end reads what was already in flight, then the end of the stream.</summary>
        public void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) != 0) return;
            input.Complete();
            output.Complete();
            network.Forget(this);
            Peer?.Abort();
        }

        public void Dispose() => Abort();
    }
}
