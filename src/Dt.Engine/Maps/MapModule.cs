using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Dt.Events;
using Dt.Gossip;
using Dt.Modules;
using Dt.Protocol;
using Dt.Replication;
using Dt.Transport;
using Microsoft.Extensions.Logging;
using Dt.Model;

namespace Dt.Maps;

/// <summary>
/// Shared maps (distributed-map, done right): named maps that any node may write, replicated to every node (the
/// overlay is a tree or mesh, so every node carries every map for its neighbours).
/// <para>
/// Conflict rule: per key the write with the greatest (hybrid logical clock, writer id) wins, on every node alike.
/// The clock never runs behind a clock seen, so a write made after seeing another wins over it whatever the wall
/// clocks say. A deletion is a write too (a tombstone) and is kept for <see cref="GossipOptions.MapTombstoneRetention"/>
/// measured from its clock; a node offline for less still deletes the key when it returns, and never brings it
/// back. A node that was cut off for longer is told so by its peer (its version vector is below a forgotten
/// tombstone) and drops its copy, keeping only its own unseen writes, then takes the peer's.
/// </para>
/// <para>
/// Sync: each map's writes are streams per writer; a digest is each map's version vector; the responder sends what
/// the initiator lacks and asks for what it has newer (Scuttlebutt per writer, cut to the message budget, continued at
/// once when cut). Writes are pushed at once and relayed hop by hop. A node is <em>ready</em> once its first sync with
/// a peer finished (it holds everything that peer had), or at once if it is a root of the overlay (configured with no
/// peers: the first node). Ready is per node and so per map: a map first written or opened after that is ready at once.
/// </para>
/// <para>
/// Threading, as a grain: messages are decoded on the link's thread and handled one at a time by the module's bounded
/// inbox loop (full: dropped and counted; the next sync repairs it); one lock (the store's) guards the state.
/// </para>
/// </summary>
internal sealed class MapModule : INodeModule
{
    private readonly ModuleContext _node;
    private readonly GossipOptions _o;
    private readonly MapStore _store;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DeltaPacker<Plan> _packer;
    private readonly PushScheduler<(string Map, Guid Writer), Plan> _pushes;
    private readonly ModuleInbox _inbox;
    private Task _loop = Task.CompletedTask;
    private DateTimeOffset _lastGc;

    private readonly record struct Plan(MapState Map, Guid Writer, long From);

    public MapModule(GossipOptions options, ModuleContext node, MapStore store)
    {
        _node = node;
        _o = options;
        _store = store;
        _log = node.Loggers.CreateLogger("Dt.Maps");
        var log = _log;
        _inbox = new ModuleInbox(options.MaxInboxMessages, node.Time, e => GossipLog.HandlerFailed(log, e));
        _packer = new DeltaPacker<Plan>(options, GossipMessageTypes.MapPush, _ => 128, (w, p, budget, force, _, out to) => WriteBatch(w, p, budget, force, out to),
            (p, to) => p with { From = to },
            p =>
            {
                var log = p.Map.Log(p.Writer);
                return p.From > 0 && p.From < log.Floor ? p with { From = Math.Min(log.Floor, log.Max) } : p;
            });
        _pushes = new PushScheduler<(string Map, Guid Writer), Plan>(_packer, FlushPush);
    }

    /// <summary>Messages dropped because the inbox was full.</summary>
    public long InboxDrops => _inbox.Drops;

    public IReadOnlyCollection<MessageType> MessageTypes { get; } =
        [GossipMessageTypes.MapDigest, GossipMessageTypes.MapAck, GossipMessageTypes.MapDeltas, GossipMessageTypes.MapPush];

    public bool IsReady => _ready.Task.IsCompleted;

    public Task WhenReady => _ready.Task;

    public Guid WriterId => _store.WriterId;

    /// <summary>Guards the map store: only this module changes it (the store outlives the module across restarts).</summary>
    private readonly Lock Sync = new();

    public void Start()
    {
        lock (Sync)
        {
            foreach (var m in _store.Maps.Values) m.ReadyAnnounced = false;
            // The first node (a root of the overlay: it dials nobody) has no one to sync with: ready at once.
            if (_node.IsRoot) BecomeReady("starting as the first node (no configured peers)");
        }
        _loop = Task.Run(LoopAsync);
        _inbox.Start(_stop.Token);
    }

    public void OnLinkUp(PeerLink link) => Post(() => { lock (Sync) SendDigest(link); });

    private void Post(Action work) => _inbox.Post(_ => work(), _stop.Token);

    public void OnLinkDown(PeerLink link) { }

    public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        OnMessage(link, type, body.Span);
        return ValueTask.CompletedTask;
    }

    internal void OnMessage(PeerLink link, MessageType type, ReadOnlySpan<byte> body)
    {
        switch (type)
        {
            case GossipMessageTypes.MapDigest:
            {
                var digest = MapMessages.DecodeDigest(body, _o.MaxMaps);
                Post(() => { lock (Sync) OnDigest(link, digest); });
                break;
            }
            case GossipMessageTypes.MapAck:
            {
                var (more, requests, resets, batches) = MapMessages.DecodeAck(body, _o.MaxMaps, _o.MaxKeyBytes, _o.MaxValueBytes);
                Post(() => { lock (Sync) OnAck(link, more, requests, resets, batches); });
                break;
            }
            case GossipMessageTypes.MapDeltas:
            {
                var (more, batches) = MapMessages.DecodeDeltas(body, _o.MaxKeyBytes, _o.MaxValueBytes);
                Post(() =>
                {
                    lock (Sync)
                    {
                        ApplyAndForward(link, batches);
                        if (more) Continue(link);
                        else BecomeReady($"the first sync with {link}");
                    }
                });
                break;
            }
            case GossipMessageTypes.MapPush:
            {
                var (_, batches) = MapMessages.DecodeDeltas(body, _o.MaxKeyBytes, _o.MaxValueBytes);
                Post(() => { lock (Sync) ApplyAndForward(link, batches); });
                break;
            }
        }
    }

    private Task LoopAsync() => ModuleTimer.RunAsync(_o.MapSyncInterval, _node.Time, () =>
    {
        lock (Sync)
        {
            DeltaPacker.ToRandom(_node.Links, _o.Fanout, SendDigest);
            var now = _node.Time.GetUtcNow();
            if (now - _lastGc >= TimeSpan.FromTicks(Math.Clamp(_o.MapTombstoneRetention.Ticks / 100, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute)))
            {
                _lastGc = now;
                CollectTombstones(now);
            }
        }
    }, e => GossipLog.MapTickFailed(_log, e), _stop.Token);

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        try { await Task.WhenAll(_loop, _inbox.CompleteAsync()).WaitAsync(TimeSpan.FromSeconds(5)); } catch { /* stopping */ }
    }

    // ---- local API ---------------------------------------------------------------------------------------------

    public static void CheckName(string map)
    {
        if (!MapState.IsValidName(map))
            throw new DtException(DtErrorCodes.InvalidArgument, $"map name '{map}' is invalid: use 1 to 128 letters, digits, '.', '_', '-', ':' or '/'");
    }

    /// <summary>Sets a key; returns the entry as written.</summary>
    public MapEntry Set(string map, string key, byte[] json)
    {
        CheckName(map);
        CheckKey(key);
        if (json.Length > _o.MaxValueBytes)
            throw new DtException(DtErrorCodes.TooLarge, $"value of {json.Length} bytes is over the limit of {_o.MaxValueBytes} bytes (Dt:Gossip:MaxValueBytes)");
        if (!GossipCodec.IsJson(json)) throw new DtException(DtErrorCodes.InvalidArgument, "value is not well-formed JSON");
        lock (Sync)
        {
            var state = GetOrCreate(map) ?? throw new DtException(DtErrorCodes.LimitReached, $"this node holds {_o.MaxMaps} maps, the limit (Dt:Gossip:MaxMaps)");
            if (!state.Items.ContainsKey(key) && state.Items.Count >= _o.MaxMapEntries)
                throw new DtException(DtErrorCodes.LimitReached, $"map '{map}' holds {state.Items.Count} entries, the limit (Dt:Gossip:MaxMapEntries)");
            var item = WriteLocal(state, key, json);
            return ToEntry(map, item);
        }
    }

    /// <summary>Deletes a key; false if this node holds no live value for it.</summary>
    public bool Delete(string map, string key)
    {
        CheckName(map);
        CheckKey(key);
        lock (Sync)
        {
            if (!_store.Maps.TryGetValue(map, out var state) || !state.Items.TryGetValue(key, out var cur) || cur.Deleted) return false;
            WriteLocal(state, key, null);
            return true;
        }
    }

    private MapItem WriteLocal(MapState state, string key, byte[]? json)
    {
        var log = state.Log(_store.WriterId);
        var item = new MapItem(key, _store.WriterId, log.Max + 1, _node.Clock.Now(), json);
        log.Max = item.Version;
        var (_, old) = state.Apply(item);
        Announce(state, item, old);
        _pushes.Queue((state.Name, _store.WriterId), item.Version - 1, PushScheduler.Everyone);
        return item;
    }

    private void CheckKey(string key)
    {
        if (string.IsNullOrEmpty(key) || Encoding.UTF8.GetByteCount(key) > _o.MaxKeyBytes)
            throw new DtException(DtErrorCodes.InvalidArgument, $"key must be 1 to {_o.MaxKeyBytes} UTF-8 bytes (Dt:Gossip:MaxKeyBytes)");
    }

    public MapEntry? Get(string map, string key)
    {
        CheckName(map);
        lock (Sync)
            return _store.Maps.TryGetValue(map, out var s) && s.Items.TryGetValue(key, out var i) && !i.Deleted ? ToEntry(map, i) : null;
    }

    public IReadOnlyList<MapEntry> List(string map)
    {
        CheckName(map);
        lock (Sync)
        {
            if (!_store.Maps.TryGetValue(map, out var s)) return [];
            return s.Items.Values.Where(i => !i.Deleted).OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => ToEntry(map, i)).ToList();
        }
    }

    public MapInfo Info(string map)
    {
        CheckName(map);
        lock (Sync)
        {
            _store.Maps.TryGetValue(map, out var s);
            return new MapInfo(map, s?.LiveCount ?? 0, IsReady, s?.Digest ?? "0-0000000000000000");
        }
    }

    /// <summary>Deletion markers held for a map (for tests and metrics).</summary>
    public int Markers(string map)
    {
        lock (Sync) return _store.Maps.TryGetValue(map, out var s) ? s.MarkerCount : 0;
    }

    public IReadOnlyList<string> MapNames()
    {
        lock (Sync) return _store.Maps.Keys.Order(StringComparer.Ordinal).ToList();
    }

    private static MapEntry ToEntry(string map, MapItem i) =>
        new(map, i.Key, EventHub.Parse(i.Value!), HybridLogicalClock.ToTime(i.Hlc), i.Writer.ToString());

    private MapState? GetOrCreate(string map)
    {
        if (_store.Maps.TryGetValue(map, out var s)) return s;
        if (_store.Maps.Count >= _o.MaxMaps) return null;
        s = _store.Maps[map] = new MapState(map);
        if (IsReady) AnnounceReady(s);
        return s;
    }

    // ---- sync --------------------------------------------------------------------------------------------------

    private void SendDigest(PeerLink link)
    {
        using var w = new WireWriter(256);
        w.U8((byte)GossipMessageTypes.MapDigest);
        w.U8(0);
        w.VarUInt((ulong)_store.Maps.Count);
        foreach (var m in _store.Maps.Values)
            MapMessages.WriteVector(w, m.Name, m.Writers.Select(x => KeyValuePair.Create(x.Key, x.Value.Max)).ToList());
        link.TrySend(w.WrittenSpan);
    }

    private void OnDigest(PeerLink link, List<MapVector> digest)
    {
        var requests = new List<(string, Guid, long)>();
        var resets = new List<MapState>();
        var plans = new List<Plan>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int newMaps = 0;
        foreach (var v in digest)
        {
            if (!seen.Add(v.Map)) continue;
            if (!_store.Maps.TryGetValue(v.Map, out var mine))
            {
                if (_store.Maps.Count + newMaps++ < _o.MaxMaps)
                    foreach (var (writer, max) in v.Writers)
                        if (max > 0) requests.Add((v.Map, writer, 0));
                continue;
            }
            var theirs = new HashSet<Guid>();
            bool stale = false;
            foreach (var (writer, max) in v.Writers)
            {
                theirs.Add(writer);
                var log = mine.Writers.GetValueOrDefault(writer);
                long myMax = log?.Max ?? 0;
                if (max > myMax) requests.Add((v.Map, writer, myMax));
                else if (max < myMax)
                {
                    // It holds some of this writer's writes, but not the tombstones forgotten here since.
                    if (max > 0 && log!.Floor > max) stale = true;
                    plans.Add(new Plan(mine, writer, max));
                }
            }
            foreach (var (writer, log) in mine.Writers)
                if (!theirs.Contains(writer) && log.Max > 0) plans.Add(new Plan(mine, writer, 0));
            if (stale)
            {
                GossipLog.MapPeerBehindFloor(_log, v.Map, link.ToString());
                resets.Add(mine);
            }
        }
        foreach (var m in _store.Maps.Values)
            if (!seen.Contains(m.Name))
                foreach (var (writer, log) in m.Writers)
                    if (log.Max > 0) plans.Add(new Plan(m, writer, 0));

        using var body = new WireWriter(1024);
        var (count, more) = _packer.WriteBatches(body, plans, _packer.Budget(link) - requests.Count * 40, 0);
        using var w = new WireWriter(body.Length + 64 + requests.Count * 40);
        MapMessages.WriteAckStart(w, more, requests);
        w.VarUInt((ulong)resets.Count);
        foreach (var m in resets) MapMessages.WriteVector(w, m.Name, m.Writers.Select(x => KeyValuePair.Create(x.Key, x.Value.Max)).ToList());
        w.VarUInt((ulong)count);
        w.Bytes(body.WrittenSpan);
        link.TrySend(w.WrittenSpan);
        // Nothing to ask of the initiator: this node already holds all it has.
        if (requests.Count == 0) BecomeReady($"the first sync with {link}");
    }

    private void OnAck(PeerLink link, bool more, List<(string Map, Guid Writer, long From)> requests, List<MapVector> resets, List<MapBatch> batches)
    {
        foreach (var v in resets) Reset(v);
        ApplyAndForward(link, batches);
        if (requests.Count > 0)
        {
            var plans = new List<Plan>();
            foreach (var (map, writer, from) in requests)
                if (_store.Maps.TryGetValue(map, out var m) && m.Writers.TryGetValue(writer, out var log) && log.Max > from)
                    plans.Add(new Plan(m, writer, from));
            using var body = new WireWriter(1024);
            var (count, cut) = _packer.WriteBatches(body, plans, _packer.Budget(link), 0);
            using var w = new WireWriter(body.Length + 16);
            GossipCodec.WriteDeltasStart(w, GossipMessageTypes.MapDeltas, cut);
            GossipCodec.WriteBatchCount(w, count);
            w.Bytes(body.WrittenSpan);
            link.TrySend(w.WrittenSpan);
        }
        if (more || resets.Count > 0) Continue(link);
        else BecomeReady($"the first sync with {link}");
    }

    /// <summary>A cut answer: sync again at once, unless the link is backlogged (then the next round does).</summary>
    private void Continue(PeerLink link)
    {
        if (!_packer.IsBacklogged(link)) SendDigest(link);
    }

    /// <summary>
    /// The peer forgot tombstones this node may still need: drop the map except this node's own writes the peer has
    /// not seen, and take the peer's copy from scratch.
    /// </summary>
    private void Reset(MapVector peer)
    {
        if (!_store.Maps.TryGetValue(peer.Map, out var state)) return;
        GossipLog.MapReset(_log, peer.Map);
        long seenOfMine = peer.Writers.FirstOrDefault(w => w.Writer == _store.WriterId).Max;
        var fresh = new MapState(peer.Map) { ReadyAnnounced = state.ReadyAnnounced };
        var mine = state.Writers.GetValueOrDefault(_store.WriterId);
        if (mine is not null) fresh.Log(_store.WriterId).Max = mine.Max;
        foreach (var item in state.Items.Values)
        {
            if (item.Writer == _store.WriterId && item.Version > seenOfMine)
            {
                fresh.Apply(item);
                continue;
            }
            if (!item.Deleted) PublishDelete(peer.Map, item.Key, item.Value!, item.Writer);
        }
        _store.Maps[peer.Map] = fresh;
    }

    private static bool WriteBatch(WireWriter w, Plan p, int budget, bool force, out long to)
    {
        var log = p.Map.Log(p.Writer);
        var items = new List<MapItem>();
        bool cut = DeltaPacker.Fill(items, log.After(p.From), MapMessages.ItemSize, 64 + p.Map.Name.Length, budget, force);
        to = cut ? (items.Count > 0 ? items[^1].Version : p.From) : log.Max;
        MapMessages.WriteBatch(w, p.Map.Name, p.Writer, p.From, to, items, log.Floor);
        return cut;
    }

    private void ApplyAndForward(PeerLink from, List<MapBatch> batches)
    {
        List<Plan>? advanced = null;
        foreach (var b in batches)
        {
            var state = GetOrCreate(b.Map);
            if (state is null)
            {
                GossipLog.MapLimit(_log, _o.MaxMaps, b.Map);
                continue;
            }
            var log = state.Log(b.Writer);
            long before = log.Max;
            // A gap, or tombstones this node never saw were forgotten (harmless if it holds nothing of this writer yet):
            // the next sync fills it, or resets this copy.
            if (b.From > before || (b.Floor > before && before > 0)) continue;
            foreach (var i in b.Items)
            {
                if (i.Version <= before) continue;
                _node.Clock.Observe(i.Hlc);
                var item = new MapItem(i.Key, b.Writer, i.Version, i.Hlc, i.Value);
                if (!state.Items.ContainsKey(i.Key) && state.Items.Count >= _o.MaxMapEntries)
                {
                    GossipLog.MapFull(_log, state.Name, _o.MaxMapEntries);
                    continue;
                }
                var (won, old) = state.Apply(item);
                if (won) Announce(state, item, old);
            }
            if (b.To > log.Max) log.Max = b.To;
            log.Floor = Math.Max(log.Floor, Math.Min(b.Floor, log.Max));
            if (log.Max > before) (advanced ??= []).Add(new Plan(state, b.Writer, before));
        }
        if (advanced is null) return;
        foreach (var p in advanced) _pushes.Queue((p.Map.Name, p.Writer), p.From, from.Id);
    }

    /// <summary>Pushes this node's writes and the ranges that advanced here since the last flush (relays go to every
    /// link but the one they came from). A burst shares messages.</summary>
    private void FlushPush()
    {
        lock (Sync)
            _pushes.Flush(_node.Links, 0, (key, from) =>
                _store.Maps.TryGetValue(key.Map, out var s) && s.Writers.TryGetValue(key.Writer, out var log) && log.Max > from
                    ? new Plan(s, key.Writer, from)
                    : null);
    }

    /// <summary>Forgets tombstones older than the retention; a peer behind them is reset when it next syncs.</summary>
    private void CollectTombstones(DateTimeOffset now)
    {
        ulong horizon = HybridLogicalClock.FromTime(now - _o.MapTombstoneRetention);
        foreach (var m in _store.Maps.Values)
        {
            if (m.MarkerCount == 0) continue;
            foreach (var i in m.Items.Values.Where(i => i.Deleted && i.Hlc < horizon).ToList())
            {
                m.Drop(i);
                var log = m.Log(i.Writer);
                log.Floor = Math.Max(log.Floor, i.Version);
            }
        }
    }

    // ---- readiness and events ----------------------------------------------------------------------------------

    private void BecomeReady(string reason)
    {
        if (IsReady) return;
        GossipLog.MapsReady(_log, _store.Maps.Count, reason);
        _ready.TrySetResult();
        foreach (var m in _store.Maps.Values) AnnounceReady(m);
    }

    private void AnnounceReady(MapState m)
    {
        if (m.ReadyAnnounced) return;
        m.ReadyAnnounced = true;
        Publish(GossipEventTypes.MapReady, m.Name, w => w.WriteString("map", m.Name));
    }

    private void Announce(MapState state, MapItem item, MapItem? old)
    {
        if (!item.Deleted)
        {
            Publish(GossipEventTypes.MapSet, item.Writer.ToString(), w =>
            {
                w.WriteString("map", state.Name);
                w.WriteString("key", item.Key);
                w.WritePropertyName("value");
                w.WriteRawValue(item.Value, skipInputValidation: true);
                w.WriteString("writer", item.Writer.ToString());
            });
        }
        else if (old is { Deleted: false }) PublishDelete(state.Name, item.Key, old.Value!, item.Writer);
    }

    private void PublishDelete(string map, string key, byte[] oldValue, Guid writer) =>
        Publish(GossipEventTypes.MapDelete, writer.ToString(), w =>
        {
            w.WriteString("map", map);
            w.WriteString("key", key);
            w.WritePropertyName("oldValue");
            w.WriteRawValue(oldValue, skipInputValidation: true);
            w.WriteString("writer", writer.ToString());
        });

    private void Publish(string type, string origin, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        _node.Events.Publish(type, buffer.WrittenSpan, origin);
    }
}
