using System.Text.Json;
using System.Threading.Channels;
using Dt.Replication;

namespace Dt.Events;

/// <summary>
/// The node's event log: a ring of the last events (for subscribers that resume by id) and a bounded queue per
/// subscriber. Drop policy: a subscriber whose queue is full is ended with <see cref="DtErrorCodes.SubscriberTooSlow"/>
/// and may resume from the last id it saw; the node itself never waits for a subscriber.
/// </summary>
public sealed class EventHub(int bufferSize, int subscriberQueueSize, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly EventRecord[] _ring = new EventRecord[bufferSize];
    private readonly List<Subscriber> _subscribers = [];
    private long _lastId;

    /// <summary>An event as kept: JSON and hash stay raw until a subscriber takes it.</summary>
    internal readonly record struct EventRecord(long Id, string Type, DateTimeOffset Time, string? Table, ObjectHash? Hash, byte[]? Json, string? Origin, string? Error, Guid? MessageId)
    {
        public DtEvent ToEvent() => new(Id, Type, Time, Table, Hash?.ToString(), Json is null ? null : Parse(Json), Origin, Error, MessageId?.ToString());
    }

    private sealed class Subscriber(string? table, Channel<EventRecord> channel)
    {
        public string? Table { get; } = table;
        public Channel<EventRecord> Channel { get; } = channel;
        public long LastQueued;
    }

    public long LastId { get { lock (_lock) return _lastId; } }

    public int SubscriberCount { get { lock (_lock) return _subscribers.Count; } }

    public void Publish(string type, string? table = null, ObjectHash? hash = null, byte[]? json = null, string? origin = null, string? error = null, Guid? messageId = null)
    {
        lock (_lock)
        {
            var e = new EventRecord(++_lastId, type, time.GetUtcNow(), table, hash, json, origin, error, messageId);
            _ring[e.Id % _ring.Length] = e;
            for (int i = _subscribers.Count - 1; i >= 0; i--)
            {
                var s = _subscribers[i];
                if (s.Table is not null && s.Table != e.Table) continue;
                if (s.Channel.Writer.TryWrite(e)) { s.LastQueued = e.Id; continue; }
                s.Channel.Writer.TryComplete(new DtException(DtErrorCodes.SubscriberTooSlow,
                    $"event subscriber fell more than {subscriberQueueSize} events behind; resume after event id {s.LastQueued}"));
                _subscribers.RemoveAt(i);
            }
        }
    }

    /// <summary>Events after <paramref name="afterId"/> still held (oldest first), then live events until cancelled.</summary>
    public async IAsyncEnumerable<DtEvent> Subscribe(string? table, long? afterId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var channel = Channel.CreateBounded<EventRecord>(new BoundedChannelOptions(subscriberQueueSize) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        var sub = new Subscriber(table, channel);
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
                    if (table is null || e.Table == table) replay.Add(e);
                }
            }
            _subscribers.Add(sub);
        }
        try
        {
            if (gapFrom > 0)
                yield return new DtEvent(0, DtEventTypes.Error, time.GetUtcNow(), table, Origin: "events",
                    Error: $"events {gapFrom} to {gapTo} are no longer held by this node; re-list the table to be sure of its state");
            foreach (var e in replay) yield return e.ToEvent();
            await foreach (var e in channel.Reader.ReadAllAsync(ct)) yield return e.ToEvent();
        }
        finally
        {
            lock (_lock) _subscribers.Remove(sub);
        }
    }

    internal static JsonElement Parse(byte[] json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}
