using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Dt.Events;
using Dt.Modules;
using Dt.Protocol;
using Dt.Transport;
using Microsoft.Extensions.Logging;

namespace Dt.Gossip;

/// <summary>
/// Node state and membership (Telepathine, done right). Each node owns keys; every node learns every node's keys by
/// Scuttlebutt anti-entropy over the overlay's links, and new writes are pushed at once and relayed hop by hop.
/// A member is (name, generation): a node restarted under the same name starts a higher generation whose state
/// replaces its previous life's everywhere. Heartbeats go straight to linked peers every heartbeat interval and
/// spread further with their age inside digests; a phi-accrual detector per peer turns silence into a verdict.
/// <para>
/// Threading, as a grain: messages from links are decoded on the link's thread, then handled one at a time by the
/// module's inbox loop, so no thread waits for another node's work. One lock guards the state against the timer and
/// API calls. The inbox is bounded (<see cref="GossipOptions.MaxInboxMessages"/>); when it is full a message is
/// dropped and counted: every gossip message is safe to lose (the next round repairs it).
/// </para>
/// </summary>
internal sealed partial class GossipModule : INodeModule
{
    private static long s_lastGeneration;

    private readonly ModuleContext _node;
    private readonly GossipOptions _o;
    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly OwnerState _self;
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Forgotten> _forgotten = new(StringComparer.Ordinal);
    private readonly PriorityQueue<Expiry, long> _expiries = new();
    private readonly Dictionary<long, long> _lastDigestTo = [];
    private readonly DeltaPacker<Plan> _packer;
    private readonly PushScheduler<string, Plan> _pushes;
    private readonly CancellationTokenSource _stop = new();
    private readonly ModuleInbox _inbox;
    private readonly long _t0;
    private readonly GossipCodec.Limits _limits;
    private Task _loop = Task.CompletedTask;
    private long _pushedVersion;
    private int _generationBumps;
    private bool _unhealthy;
    private long _lastPauseLog;

    /// <summary>How long the message being handled waited in the inbox: added to the heartbeat ages it carries.</summary>
    private long _queuedMs;

    internal sealed class Member(string name, Guid nodeId, long generation, PhiAccrualDetector detector)
    {
        public string Name { get; } = name;
        public Guid NodeId { get; set; } = nodeId;
        public OwnerState State { get; } = new(generation);
        public PhiAccrualDetector Detector { get; } = detector;
        public bool Alive { get; set; }
        public long LastArrivalMs { get; set; }
    }

    private readonly record struct Forgotten(long Generation, long Heartbeat, long UntilMs);

    private readonly record struct Expiry(string Owner, OwnerState State, string Key, long Version);

    public GossipModule(GossipOptions options, ModuleContext node)
    {
        _node = node;
        _o = options;
        _log = node.Loggers.CreateLogger("Dt.Gossip");
        var log = _log;
        _limits = GossipCodec.Limits.From(options);
        _t0 = node.Time.GetTimestamp();
        Name = options.NodeName ?? node.NodeName ?? node.NodeId.ToString();
        _self = new OwnerState(NextGeneration(node.Time));
        _inbox = new ModuleInbox(options.MaxInboxMessages, node.Time, e => GossipLog.HandlerFailed(log, e));
        _packer = new DeltaPacker<Plan>(options, GossipMessageTypes.Push, p => 96 + p.Name.Length * 3, WriteBatch,
            (p, to) => p with { From = to, Reset = false },
            p => p.From > 0 && p.From < p.State.Floor ? p with { From = Math.Min(p.State.Floor, p.State.Version) } : p);
        _pushes = new PushScheduler<string, Plan>(_packer, FlushPush);
    }

    public IReadOnlyCollection<MessageType> MessageTypes { get; } =
    [
        GossipMessageTypes.Digest, GossipMessageTypes.Ack, GossipMessageTypes.Deltas,
        GossipMessageTypes.Heartbeat, GossipMessageTypes.Push,
    ];

    /// <summary>This node's gossip name.</summary>
    public string Name { get; }

    public Guid NodeId => _node.NodeId;

    public GossipOptions Options => _o;

    public long Generation { get { lock (_lock) return _self.Generation; } }

    /// <summary>Dead verdicts given since start (for tests and metrics).</summary>
    public long DeadVerdicts { get; private set; }

    /// <summary>Pushes not sent to a backlogged link (anti-entropy carried those writes).</summary>
    public long PushesSkipped => _packer.PushesSkipped;

    /// <summary>Messages dropped because the inbox was full.</summary>
    public long InboxDrops => _inbox.Drops;

    /// <summary>Ticks in which a local pause was detected and no verdict given.</summary>
    public long LocalPauses { get; private set; }

    /// <summary>A generation above every earlier one of this process: the start time in ms, strictly increasing.</summary>
    private static long NextGeneration(TimeProvider time)
    {
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        while (true)
        {
            long last = Interlocked.Read(ref s_lastGeneration);
            long next = Math.Max(now, last + 1);
            if (Interlocked.CompareExchange(ref s_lastGeneration, next, last) == last) return next;
        }
    }

    private long NowMs() => (long)_node.Time.GetElapsedTime(_t0).TotalMilliseconds;

    private DateTimeOffset WallTime(long ms) => _node.Time.GetUtcNow() + TimeSpan.FromMilliseconds(ms - NowMs());

    // ---- lifecycle -----------------------------------------------------------------------------------------------

    public void Start()
    {
        GossipLog.Started(_log, Name, _node.NodeId, _self.Generation);
        _loop = Task.Run(LoopAsync);
        _inbox.Start(_stop.Token);
    }

    public void OnLinkUp(PeerLink link) => Post(() =>
    {
        SendHeartbeat(link);
        SendDigest(link, NowMs());
    });

    public void OnLinkDown(PeerLink link) => Post(() => _lastDigestTo.Remove(link.Id));

    /// <summary>Decodes on the link's thread (malformed input closes the link), then queues the handling (handlers run
    /// under the lock, one at a time).</summary>
    public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        OnMessage(link, type, body.Span);
        return ValueTask.CompletedTask;
    }

    internal void OnMessage(PeerLink link, MessageType type, ReadOnlySpan<byte> body)
    {
        switch (type)
        {
            case GossipMessageTypes.Digest:
            {
                var entries = GossipCodec.DecodeDigest(body, _limits);
                Post(() => OnDigest(link, entries));
                break;
            }
            case GossipMessageTypes.Ack:
            {
                var (more, requests, batches) = GossipCodec.DecodeAck(body, _limits);
                Post(() => OnAck(link, more, requests, batches));
                break;
            }
            case GossipMessageTypes.Deltas:
            {
                var (more, batches) = GossipCodec.DecodeDeltas(body, _limits);
                Post(() => OnDeltas(link, more, batches));
                break;
            }
            case GossipMessageTypes.Push:
            {
                var (_, batches) = GossipCodec.DecodeDeltas(body, _limits);
                Post(() => ApplyAndForward(link, batches));
                break;
            }
            case GossipMessageTypes.Heartbeat:
            {
                // Handled at once, not behind the inbox: a backlog there must not look like a silent peer.
                var hb = GossipCodec.DecodeHeartbeat(body);
                lock (_lock)
                {
                    _queuedMs = 0;
                    OnHeartbeat(link, hb.Name, hb.NodeId, hb.Generation, hb.Version, hb.Heartbeat);
                }
                break;
            }
        }
    }

    /// <summary>Handles work on the module's inbox task, under the module lock, noting how long it waited.</summary>
    private void Post(Action work) => _inbox.Post(waited =>
    {
        lock (_lock)
        {
            _queuedMs = waited;
            work();
            _queuedMs = 0;
        }
    }, _stop.Token);

    private Task LoopAsync()
    {
        double tickMs = Math.Clamp(Math.Min(_o.GossipInterval.TotalMilliseconds, _o.HeartbeatInterval.TotalMilliseconds) / 2, 5, 250);
        long last = NowMs(), nextGossip = 0, nextHeartbeat = 0;
        return ModuleTimer.RunAsync(TimeSpan.FromMilliseconds(tickMs), _node.Time, () =>
        {
            long now = NowMs();
            long late = now - last - (long)tickMs;
            last = now;
            lock (_lock)
            {
                if (late > _o.MaxLocalPause.TotalMilliseconds) ExcusePause(late, now);
                else Judge(now);
                if (now >= nextHeartbeat)
                {
                    nextHeartbeat = now + (long)_o.HeartbeatInterval.TotalMilliseconds;
                    _self.Heartbeat++;
                    foreach (var l in _node.Links) SendHeartbeat(l);
                }
                if (now >= nextGossip)
                {
                    // Jitter keeps the nodes' rounds from falling into step.
                    nextGossip = now + (long)(_o.GossipInterval.TotalMilliseconds * (0.8 + 0.4 * Random.Shared.NextDouble()));
                    GossipRound(now);
                }
                Expire(now);
            }
        }, e => GossipLog.TickFailed(_log, e), _stop.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        try { await Task.WhenAll(_loop, _inbox.CompleteAsync()).WaitAsync(TimeSpan.FromSeconds(5)); } catch { /* stopping */ }
    }

    // ---- this node's state -----------------------------------------------------------------------------------------

    /// <summary>Sets one of this node's keys; returns its version. Throws <see cref="DtException"/> on bad input or when full.</summary>
    public long Set(string key, byte[] json, TimeSpan? ttl)
    {
        CheckKey(key);
        if (json.Length > _o.MaxValueBytes)
            throw new DtException(DtErrorCodes.TooLarge, $"value of {json.Length} bytes is over the limit of {_o.MaxValueBytes} bytes (Dt:Gossip:MaxValueBytes)");
        if (!GossipCodec.IsJson(json)) throw new DtException(DtErrorCodes.InvalidArgument, "value is not well-formed JSON");
        if (ttl is { } t && (t <= TimeSpan.Zero || t > _o.MaxTtl))
            throw new DtException(DtErrorCodes.InvalidArgument, $"TTL must be positive and at most {_o.MaxTtl} (Dt:Gossip:MaxTtl)");
        lock (_lock)
        {
            long now = NowMs();
            var old = _self.Get(key);
            if (old is null) MakeRoom(_self);
            long version = ++_self.Version;
            long deadline = ttl is { } d ? now + (long)Math.Ceiling(d.TotalMilliseconds) : 0;
            var entry = new KeyEntry(key, version, EntryKind.Set, json, deadline);
            _self.Put(entry);
            if (deadline > 0) _expiries.Enqueue(new Expiry(Name, _self, key, version), deadline);
            PublishSet(Name, entry, now);
            _pushes.Schedule();
            return version;
        }
    }

    /// <summary>Deletes one of this node's keys; false if there is no such live key.</summary>
    public bool Delete(string key)
    {
        CheckKey(key);
        lock (_lock)
        {
            var old = _self.Get(key);
            if (old is null || !old.IsLive) return false;
            long now = NowMs();
            long version = ++_self.Version;
            var marker = new KeyEntry(key, version, EntryKind.Deleted, null, now + (long)_o.StateTombstoneRetention.TotalMilliseconds);
            _self.Put(marker);
            _expiries.Enqueue(new Expiry(Name, _self, key, version), marker.DeadlineMs);
            PublishRemoved(GossipEventTypes.StateDeleted, Name, key, version, "deleted");
            _pushes.Schedule();
            return true;
        }
    }

    private void CheckKey(string key)
    {
        if (string.IsNullOrEmpty(key) || Encoding.UTF8.GetByteCount(key) > _o.MaxKeyBytes)
            throw new DtException(DtErrorCodes.InvalidArgument, $"key must be 1 to {_o.MaxKeyBytes} UTF-8 bytes (Dt:Gossip:MaxKeyBytes)");
    }

    /// <summary>Makes room for one more key of this node: drops the oldest deletion marker, or refuses.</summary>
    private void MakeRoom(OwnerState state)
    {
        if (state.Count < _o.MaxKeysPerNode) return;
        var marker = state.OldestMarker()
            ?? throw new DtException(DtErrorCodes.LimitReached, $"this node holds {state.Count} keys, the limit (Dt:Gossip:MaxKeysPerNode)");
        state.Remove(marker.Key);
        state.Floor = Math.Max(state.Floor, marker.Version);
    }

    // ---- reads -------------------------------------------------------------------------------------------------

    public GossipInfo Info()
    {
        lock (_lock)
            return new GossipInfo(Name, _node.NodeId.ToString(), _self.Generation, _self.Version, _self.Heartbeat, _self.LiveCount,
                _members.Values.Count(m => m.Alive), _members.Values.Count(m => !m.Alive));
    }

    /// <summary>A key of this node (<paramref name="peer"/> null) or of a peer (name or node id).</summary>
    public StateEntry? Get(string? peer, string key)
    {
        lock (_lock)
        {
            var (name, state) = Resolve(peer);
            var e = state?.Get(key);
            return e is { IsLive: true } ? ToDto(name!, e) : null;
        }
    }

    public IReadOnlyList<StateEntry> Entries(string? peer)
    {
        lock (_lock)
        {
            var (name, state) = Resolve(peer);
            if (state is null) return [];
            return state.Entries.Where(e => e.IsLive).OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => ToDto(name!, e)).ToList();
        }
    }

    public IReadOnlyList<string> Keys(string? peer)
    {
        lock (_lock)
        {
            var (_, state) = Resolve(peer);
            if (state is null) return [];
            return state.Entries.Where(e => e.IsLive).Select(e => e.Key).Order(StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>Peers as this node sees them: all (null), live (true) or dead (false).</summary>
    public IReadOnlyList<GossipPeer> Peers(bool? alive = null)
    {
        lock (_lock)
        {
            long now = NowMs();
            return _members.Values.Where(m => alive is null || m.Alive == alive)
                .OrderBy(m => m.Name, StringComparer.Ordinal)
                .Select(m => new GossipPeer(m.Name, m.NodeId.ToString(), m.Alive ? PeerStatus.Alive : PeerStatus.Dead, m.State.Generation,
                    m.State.Version, m.State.Heartbeat, m.State.LiveCount, Math.Round(m.Detector.Phi(now - m.LastArrivalMs), 3), WallTime(m.LastArrivalMs)))
                .ToList();
        }
    }

    /// <summary>Live and known peers, cheaply (no snapshot).</summary>
    public (int Live, int Known) PeerCounts()
    {
        lock (_lock)
        {
            int live = 0;
            foreach (var m in _members.Values)
                if (m.Alive) live++;
            return (live, _members.Count);
        }
    }

    /// <summary>Whether this node holds every given member at exactly the given (generation, version).</summary>
    public bool HoldsAll(IReadOnlyDictionary<string, (long Generation, long Version)> expected)
    {
        lock (_lock)
        {
            foreach (var (name, v) in expected)
            {
                if (name == Name) { if ((_self.Generation, _self.Version) != v) return false; continue; }
                if (!_members.TryGetValue(name, out var m) || (m.State.Generation, m.State.Version) != v) return false;
            }
            return true;
        }
    }

    /// <summary>This node's own (generation, version).</summary>
    public (long Generation, long Version) OwnVersion()
    {
        lock (_lock) return (_self.Generation, _self.Version);
    }

    /// <summary>The (generation, version) this node holds of each member, itself included: equal on converged nodes.</summary>
    public IReadOnlyDictionary<string, (long Generation, long Version)> VersionVector()
    {
        lock (_lock)
        {
            var map = _members.ToDictionary(m => m.Key, m => (m.Value.State.Generation, m.Value.State.Version), StringComparer.Ordinal);
            map[Name] = (_self.Generation, _self.Version);
            return map;
        }
    }

    private (string? Name, OwnerState? State) Resolve(string? peer)
    {
        if (peer is null || peer == Name || peer == _node.NodeId.ToString()) return (Name, _self);
        if (_members.TryGetValue(peer, out var m)) return (m.Name, m.State);
        foreach (var x in _members.Values)
            if (string.Equals(x.NodeId.ToString(), peer, StringComparison.OrdinalIgnoreCase)) return (x.Name, x.State);
        return (null, null);
    }

    private StateEntry ToDto(string owner, KeyEntry e) =>
        new(owner, e.Key, EventHub.Parse(e.Value!), e.Version, e.DeadlineMs > 0 ? WallTime(e.DeadlineMs) : null);

    // ---- events ------------------------------------------------------------------------------------------------

    private void PublishSet(string owner, KeyEntry e, long now)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + e.Value!.Length + owner.Length + e.Key.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("peer", owner);
            w.WriteString("key", e.Key);
            w.WritePropertyName("value");
            w.WriteRawValue(e.Value, skipInputValidation: true);
            w.WriteNumber("version", e.Version);
            if (e.DeadlineMs > 0) w.WriteNumber("ttlMs", Math.Max(0, e.DeadlineMs - now));
            w.WriteEndObject();
        }
        _node.Events.Publish(GossipEventTypes.StateSet, buffer.WrittenSpan, owner);
    }

    private void PublishRemoved(string type, string owner, string key, long version, string? reason)
    {
        var buffer = new ArrayBufferWriter<byte>(96 + owner.Length + key.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("peer", owner);
            w.WriteString("key", key);
            w.WriteNumber("version", version);
            if (reason is not null) w.WriteString("reason", reason);
            w.WriteEndObject();
        }
        _node.Events.Publish(type, buffer.WrittenSpan, owner);
    }

    private void PublishPeer(string type, Member m, bool restarted = false, double? phi = null)
    {
        var buffer = new ArrayBufferWriter<byte>(160);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("peer", m.Name);
            w.WriteString("nodeId", m.NodeId.ToString());
            w.WriteNumber("generation", m.State.Generation);
            if (type == GossipEventTypes.PeerUp) w.WriteBoolean("restarted", restarted);
            if (phi is { } p) w.WriteNumber("phi", Math.Round(p, 3));
            w.WriteEndObject();
        }
        _node.Events.Publish(type, buffer.WrittenSpan, m.Name);
    }
}
