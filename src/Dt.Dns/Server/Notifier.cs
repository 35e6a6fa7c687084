using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Microsoft.Extensions.Logging;

namespace Dt.Dns.Server;

/// <summary>
/// Sends NOTIFY (RFC 1996) to the configured secondaries whenever a zone's serial changes on this node, and resends
/// it (interval doubling from <see cref="DnsOptions.NotifyRetryInterval"/>, at most <see cref="DnsOptions.NotifyRetries"/>
/// sends) until the secondary answers. Only the newest serial per zone and secondary is pending: a newer change
/// replaces an unanswered older one, so the pending set is bounded by zones × secondaries. A target with a TSIG key
/// gets its NOTIFYs signed with it (RFC 8945).
/// </summary>
internal sealed class Notifier : IAsyncDisposable
{
    private sealed class Pending
    {
        public required IPEndPoint Target { get; init; }
        public required TsigKey? Key { get; init; }
        public required ZoneSnapshot Zone { get; init; }
        public ushort Id { get; set; }
        public int Attempts { get; set; }
        public DateTimeOffset NextAt { get; set; }
    }

    private readonly IReadOnlyList<(IPEndPoint EndPoint, TsigKey? Key)> _targets;
    private readonly DnsOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Target, string Zone), Pending> _pending = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private Socket? _v4, _v6;

    public Notifier(IReadOnlyList<(IPEndPoint EndPoint, TsigKey? Key)> targets, DnsOptions options, ILogger log, TimeProvider time)
    {
        _targets = targets;
        _options = options;
        _log = log;
        _time = time;
    }

    public void Start()
    {
        if (_targets.Count == 0) return;
        if (_targets.Any(t => t.EndPoint.AddressFamily == AddressFamily.InterNetwork))
        {
            _v4 = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            _v4.Bind(new IPEndPoint(IPAddress.Any, 0));
            _loops.Add(Task.Run(() => ReceiveAsync(_v4)));
        }
        if (_targets.Any(t => t.EndPoint.AddressFamily == AddressFamily.InterNetworkV6))
        {
            _v6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
            _v6.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
            _loops.Add(Task.Run(() => ReceiveAsync(_v6)));
        }
        _loops.Add(Task.Run(SendLoopAsync));
    }

    /// <summary>Queues a NOTIFY of this zone version to every secondary.</summary>
    public void Enqueue(ZoneSnapshot zone)
    {
        if (_targets.Count == 0) return;
        var now = _time.GetUtcNow();
        lock (_lock)
            foreach (var t in _targets)
                _pending[(t.EndPoint.ToString(), zone.Origin.Key)] = new Pending { Target = t.EndPoint, Key = t.Key, Zone = zone, NextAt = now };
        _wake.Release();
    }

    private async Task SendLoopAsync()
    {
        var ct = _stop.Token;
        var w = new DnsWriter(4096);
        while (!ct.IsCancellationRequested)
        {
            var due = new List<Pending>();
            TimeSpan wait = TimeSpan.FromSeconds(30);
            var now = _time.GetUtcNow();
            lock (_lock)
            {
                foreach (var (key, p) in _pending.ToList())
                {
                    if (p.NextAt > now)
                    {
                        wait = TimeSpan.FromTicks(Math.Min(wait.Ticks, (p.NextAt - now).Ticks));
                        continue;
                    }
                    if (p.Attempts >= _options.NotifyRetries)
                    {
                        _pending.Remove(key);
                        DnsLog.NotifyGaveUp(_log, p.Zone.Origin.ToString(), p.Zone.Serial, p.Target.ToString(), p.Attempts);
                        continue;
                    }
                    p.Attempts++;
                    p.Id = (ushort)RandomNumberGenerator.GetInt32(0, 65536);
                    var interval = _options.NotifyRetryInterval * Math.Pow(2, p.Attempts - 1);
                    if (interval > TimeSpan.FromMinutes(1)) interval = TimeSpan.FromMinutes(1);
                    p.NextAt = now + interval;
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks, interval.Ticks));
                    due.Add(p);
                }
            }
            foreach (var p in due)
            {
                var socket = p.Target.AddressFamily == AddressFamily.InterNetwork ? _v4 : _v6;
                if (socket is null) continue;
                Build(w, p.Id, p.Zone);
                var datagram = p.Key is null ? w.WrittenMemory : Tsig.SignRequest(w.ToArray(), p.Key.Name, p.Key.Secret, _time.GetUtcNow(),
                    (ushort)Math.Min(ushort.MaxValue, _options.TsigFudge.TotalSeconds));
                try
                {
                    await socket.SendToAsync(datagram, SocketFlags.None, p.Target, ct);
                    DnsLog.NotifySent(_log, p.Zone.Origin.ToString(), p.Zone.Serial, p.Target.ToString(), p.Attempts);
                }
                catch (SocketException e)
                {
                    DnsLog.NotifyFailed(_log, p.Target.ToString(), e.Message);
                }
            }
            try
            {
                await _wake.WaitAsync(wait, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>A NOTIFY: opcode 4 set in the flags word together with AA; question zone/SOA; the SOA as answer.</summary>
    internal static void Build(DnsWriter w, ushort id, ZoneSnapshot zone)
    {
        w.Reset(4096);
        ushort flags = DnsFlags.WithOpcode(DnsFlags.AA, DnsOpcode.Notify);
        w.WriteHeader(id, flags, 1, 0, 0, 0);
        w.TryWriteQuestion(new DnsQuestion(zone.Origin, RrType.SOA));
        if (w.TryWriteRecord(zone.Soa)) w.SetCount(1, 1);
    }

    private async Task ReceiveAsync(Socket socket)
    {
        var ct = _stop.Token;
        var buffer = new byte[4096];
        EndPoint any = socket.AddressFamily == AddressFamily.InterNetwork ? new IPEndPoint(IPAddress.Any, 0) : new IPEndPoint(IPAddress.IPv6Any, 0);
        while (!ct.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // e.g. ICMP port unreachable reported on the socket: the retry timer handles it
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            if (r.ReceivedBytes < 12) continue;
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(buffer);
            ushort flags = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(2));
            if ((flags & DnsFlags.QR) == 0 || DnsFlags.Opcode(flags) != DnsOpcode.Notify) continue;
            var from = (IPEndPoint)r.RemoteEndPoint;
            lock (_lock)
            {
                foreach (var (key, p) in _pending.ToList())
                {
                    if (p.Id != id || !p.Target.Address.Equals(from.Address) || p.Target.Port != from.Port) continue;
                    _pending.Remove(key);
                    DnsLog.NotifyAcknowledged(_log, p.Zone.Origin.ToString(), p.Zone.Serial, p.Target.ToString());
                }
            }
        }
    }

    public int PendingCount
    {
        get { lock (_lock) return _pending.Count; }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _v4?.Dispose();
        _v6?.Dispose();
        try { await Task.WhenAll(_loops); } catch (Exception) { /* stopping */ }
        _stop.Dispose();
    }
}
