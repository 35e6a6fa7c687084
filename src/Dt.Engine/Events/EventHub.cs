using System.Numerics;
using System.Text.Json;
using System.Threading.Channels;
using Dt.Replication;
using Dt.Model;

namespace Dt.Events;

/// <summary>
/// The node's event log: a ring of the last events (for subscribers that resume by id) and a bounded queue per
/// subscriber. Drop policy: a subscriber whose queue is full is ended with <see cref="DtErrorCodes.SubscriberTooSlow"/>
/// and may resume from the last id it saw; the node itself never waits for a subscriber.
/// Payloads given as spans (messages, gossip, maps) are copied into an array owned by their ring slot and reused by the
/// slot's next event, so a steady stream of them allocates nothing while no subscriber wants them; an event handed to
/// subscribers (queued, or replayed on a resume) carries a copy of its own, made once, since the slot's array is reused.
/// </summary>
internal sealed class EventHub(int bufferSize, int subscriberQueueSize, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly EventRecord[] _ring = new EventRecord[bufferSize];

    /// <summary>Per ring slot, the array its span-given payloads are copied into (see <see cref="KeptSlotBytes"/>).</summary>
    private readonly byte[]?[] _slotBytes = new byte[]?[bufferSize];

    /// <summary>A slot keeps an array up to this size for its next event; a larger payload gets an array of its own.</summary>
    internal const int KeptSlotBytes = 1024;
    private readonly List<Subscriber> _subscribers = [];
    private long _lastId;

    /// <summary>
    /// An event as kept: JSON and hash stay raw until a subscriber takes it. <paramref name="InSlot"/>: the JSON lies in
    /// its ring slot's array, valid only while the ring holds this event and read only under the lock (see
    /// <see cref="Stable"/>).
    /// </summary>
    internal readonly record struct EventRecord(long Id, string Type, DateTimeOffset Time, string? Table, ObjectHash? Hash, ReadOnlyMemory<byte>? Json, string? Origin, string? Error, Guid? MessageId, bool InSlot = false)
    {
        public DtEvent ToEvent() => new(Id, Type, Time, Table, Hash?.ToString(), Json is { } json ? Parse(json) : null, Origin, Error, MessageId?.ToString());
    }

    internal sealed class Subscriber(string? table, IReadOnlySet<string>? types, Channel<EventRecord> channel)
    {
        public string? Table { get; } = table;
        public Channel<EventRecord> Channel { get; } = channel;
        public long LastQueued;

        public bool Wants(in EventRecord e) => (Table is null || Table == e.Table) && (types is null || types.Contains(e.Type));
    }

    public long LastId { get { lock (_lock) return _lastId; } }

    /// <summary>Events kept for subscribers that resume.</summary>
    public int Capacity => _ring.Length;

    /// <summary>
    /// Gives <paramref name="count"/> events their ids without keeping them: for events no one can read any more,
    /// because no subscriber is there and newer ones will push them out of the ring at once. A resume from among
    /// them gets the gap error, as for any event that left the ring.
    /// </summary>
    public void SkipUnread(long count)
    {
        lock (_lock)
        {
            if (_subscribers.Count > 0) throw new InvalidOperationException("events with subscribers are published, not skipped");
            _lastId += count;
        }
    }

    public int SubscriberCount { get { lock (_lock) return _subscribers.Count; } }

    public void Publish(string type, string? table = null, ObjectHash? hash = null, ReadOnlyMemory<byte>? json = null, string? origin = null, string? error = null, Guid? messageId = null)
    {
        lock (_lock) PublishLocked(new EventRecord(++_lastId, type, Now, table, hash, json, origin, error, messageId));
    }

    /// <summary>
    /// Publishes an event whose JSON the caller still owns: it is copied into the ring slot's reused array, so a steady
    /// stream of small payloads allocates nothing here while no subscriber wants them.
    /// </summary>
    public void Publish(string type, ReadOnlySpan<byte> json, string origin, Guid? messageId = null)
    {
        lock (_lock)
        {
            long id = ++_lastId;
            int slot = (int)(id % _ring.Length);
            ReadOnlyMemory<byte> kept;
            bool inSlot = json.Length <= KeptSlotBytes;
            if (inSlot)
            {
                var bytes = _slotBytes[slot];
                if (bytes is null || bytes.Length < json.Length)
                    _slotBytes[slot] = bytes = new byte[Math.Min(KeptSlotBytes, Math.Max(128, (int)BitOperations.RoundUpToPowerOf2((uint)json.Length)))];
                json.CopyTo(bytes);
                kept = bytes.AsMemory(0, json.Length);
            }
            else kept = json.ToArray();
            PublishLocked(new EventRecord(id, type, Now, null, null, kept, origin, null, messageId, inSlot));
        }
    }

    /// <summary>
    /// Starts a run of events published under one lock and one clock reading (a bulk apply publishes thousands of
    /// events a millisecond). Dispose the run to release the lock; publish nothing else meanwhile.
    /// </summary>
    public PublishRun BeginRun() => new(this);

    private DateTimeOffset Now => time.GetUtcNow();

    public ref struct PublishRun
    {
        private readonly EventHub _hub;
        private Lock.Scope _scope;
        private readonly DateTimeOffset _now;

        internal PublishRun(EventHub hub)
        {
            _hub = hub;
            _scope = hub._lock.EnterScope();
            _now = hub.Now;
        }

        public readonly void Publish(string type, string table, in ObjectHash hash, ReadOnlyMemory<byte> json, string origin) =>
            _hub.PublishLocked(new EventRecord(++_hub._lastId, type, _now, table, hash, json, origin, null, null));

        public void Dispose() => _scope.Dispose();
    }

    private void PublishLocked(in EventRecord e)
    {
        _ring[e.Id % _ring.Length] = e;
        EventRecord? queued = null; // the event as subscribers get it: copied once if its JSON is in its slot
        for (int i = _subscribers.Count - 1; i >= 0; i--)
        {
            var s = _subscribers[i];
            if (!s.Wants(e)) continue;
            queued ??= Stable(e);
            if (s.Channel.Writer.TryWrite(queued.Value)) { s.LastQueued = e.Id; continue; }
            s.Channel.Writer.TryComplete(new DtException(DtErrorCodes.SubscriberTooSlow,
                $"event subscriber fell more than {subscriberQueueSize} events behind; resume after event id {s.LastQueued}"));
            _subscribers.RemoveAt(i);
        }
    }

    /// <summary>An event that may leave the lock: one whose JSON lies in its ring slot gets a copy of its own (under the lock).</summary>
    private static EventRecord Stable(in EventRecord e) => e.InSlot ? e with { Json = e.Json!.Value.ToArray(), InSlot = false } : e;

    /// <summary>Events after <paramref name="afterId"/> still held (oldest first), then live events until cancelled.</summary>
    public async IAsyncEnumerable<DtEvent> Subscribe(string? table, long? afterId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var feed = Open(table, afterId);
        await foreach (var e in feed.ReadAllAsync(ct)) yield return e;
    }

    /// <summary>
    /// Registers a subscriber at once (so nothing published after this call is missed) and returns its feed:
    /// events after <paramref name="afterId"/> still held, then live ones; only <paramref name="types"/> if given.
    /// Dispose the feed to unregister.
    /// </summary>
    public Feed Open(string? table, long? afterId, IReadOnlySet<string>? types = null)
    {
        var channel = Channel.CreateBounded<EventRecord>(new BoundedChannelOptions(subscriberQueueSize) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        var sub = new Subscriber(table, types, channel);
        var replay = new List<EventRecord>();
        long gapFrom = 0, gapTo = 0;
        lock (_lock)
        {
            if (afterId is { } after && after < _lastId)
            {
                long oldest = Math.Max(1, _lastId - _ring.Length + 1);
                if (after + 1 < oldest) { gapFrom = after + 1; gapTo = oldest - 1; }
                for (long id = Math.Max(after + 1, oldest); id <= _lastId; id++)
                {
                    var e = _ring[id % _ring.Length];
                    if (sub.Wants(e)) replay.Add(Stable(e));
                }
            }
            _subscribers.Add(sub);
        }
        DtEvent? gap = gapFrom > 0
            ? new DtEvent(0, DtEventTypes.Error, time.GetUtcNow(), table, Origin: "events",
                Error: $"events {gapFrom} to {gapTo} are no longer held by this node; re-list the table to be sure of its state")
            : null;
        return new Feed(this, sub, gap, replay);
    }

    /// <summary>One registered subscriber's events.</summary>
    public sealed class Feed : IAsyncDisposable
    {
        private readonly EventHub _hub;
        private readonly Subscriber _sub;
        private readonly DtEvent? _gap;
        private readonly List<EventRecord> _replay;

        internal Feed(EventHub hub, Subscriber sub, DtEvent? gap, List<EventRecord> replay)
        {
            _hub = hub;
            _sub = sub;
            _gap = gap;
            _replay = replay;
        }

        public async IAsyncEnumerable<DtEvent> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            if (_gap is not null) yield return _gap;
            foreach (var e in _replay) yield return e.ToEvent();
            _replay.Clear();
            await foreach (var e in _sub.Channel.Reader.ReadAllAsync(ct)) yield return e.ToEvent();
        }

        public ValueTask DisposeAsync()
        {
            lock (_hub._lock) _hub._subscribers.Remove(_sub);
            return ValueTask.CompletedTask;
        }
    }

    internal static JsonElement Parse(ReadOnlyMemory<byte> json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}
