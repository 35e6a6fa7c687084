using System.Buffers;
using System.Text.Json;
using Dt.Events;
using Dt.Modules;
using Dt.Protocol;
using Dt.Transport;
using Microsoft.Extensions.Logging;

namespace Dt.Gossip;

/// <summary>
/// The say/hear event bus. A said event (id, origin, name, JSON data, duration) is flooded over every link; a node
/// delivers it once (a <c>say</c> event in its event stream) and relays it once. While the event lasts, every new link
/// gets all lasting events, so a node that joins within an event's duration still hears it, once. Each node keeps an
/// event until its own deadline (arrival + the time left at the sender: transit time only ever lengthens it), then
/// remembers its id a little longer so that a late copy over a slower path is not delivered twice.
/// Bounds: <see cref="GossipOptions.MaxActiveEvents"/> events held; beyond it local <c>Say</c> fails with
/// <c>limit_reached</c> and events from peers are dropped (logged).
/// Events are not state: they never enter the scuttlebutt digests.
/// </summary>
internal sealed class EventBusModule : INodeModule
{
    private const long RememberAfterMs = 10_000;

    private readonly ModuleContext _node;
    private readonly GossipOptions _o;
    private readonly GossipModule _gossip;
    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Said> _events = [];
    private readonly PriorityQueue<Guid, long> _forget = new();
    private readonly long _t0;

    private sealed record Said(Guid Id, string Origin, Guid OriginNodeId, string Event, byte[] Data, long DeadlineMs);

    public EventBusModule(GossipOptions options, ModuleContext node, GossipModule gossip)
    {
        _node = node;
        _o = options;
        _gossip = gossip;
        _log = node.Loggers.CreateLogger("Dt.Gossip.Events");
        _t0 = node.Time.GetTimestamp();
    }

    public IReadOnlyCollection<MessageType> MessageTypes { get; } = [GossipMessageTypes.Say];

    /// <summary>Events held (lasting or remembered).</summary>
    public int Count { get { lock (_lock) return _events.Count; } }

    private long NowMs() => (long)_node.Time.GetElapsedTime(_t0).TotalMilliseconds;

    public void Start() { }

    public void OnLinkUp(PeerLink link)
    {
        lock (_lock)
        {
            long now = NowMs();
            Sweep(now);
            using var w = new WireWriter(256);
            foreach (var e in _events.Values)
            {
                if (e.DeadlineMs <= now) continue;
                w.Reset();
                GossipCodec.WriteSay(w, e.Id, e.Origin, e.OriginNodeId, e.Event, e.DeadlineMs - now, e.Data);
                link.TrySend(w.WrittenSpan);
            }
        }
    }

    public void OnLinkDown(PeerLink link) { }

    public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        OnMessage(link, type, body.Span);
        return ValueTask.CompletedTask;
    }

    internal void OnMessage(PeerLink link, MessageType type, ReadOnlySpan<byte> body)
    {
        var (id, origin, originNode, name, remaining, data) = GossipCodec.DecodeSay(body, _o.MaxValueBytes);
        if (remaining <= 0) return;
        remaining = Math.Min(remaining, (long)_o.MaxSayDuration.TotalMilliseconds);
        lock (_lock)
        {
            long now = NowMs();
            Sweep(now);
            if (_events.ContainsKey(id)) return;
            if (_events.Count >= _o.MaxActiveEvents)
            {
                GossipLog.SayDropped(_log, link.ToString(), _o.MaxActiveEvents);
                return;
            }
            var e = new Said(id, origin, originNode, name, data, now + remaining);
            Hold(e);
            Deliver(e, now);
            Relay(e, now, link);
        }
    }

    /// <summary>Says an event to every node; returns its id. The sender delivers it to its own stream too (origin is
    /// itself); hearers skip their own events unless they ask for them.</summary>
    public Guid Say(string eventName, byte[] data, TimeSpan? duration)
    {
        if (!GossipOptions.IsValidName(eventName))
            throw new DtException(DtErrorCodes.InvalidArgument, "event name must be 1 to 128 UTF-8 bytes without control characters");
        if (data.Length > _o.MaxValueBytes)
            throw new DtException(DtErrorCodes.TooLarge, $"event data of {data.Length} bytes is over the limit of {_o.MaxValueBytes} bytes (Dt:Gossip:MaxValueBytes)");
        if (!GossipCodec.IsJson(data)) throw new DtException(DtErrorCodes.InvalidArgument, "event data is not well-formed JSON");
        var d = duration ?? _o.DefaultSayDuration;
        if (d <= TimeSpan.Zero || d > _o.MaxSayDuration)
            throw new DtException(DtErrorCodes.InvalidArgument, $"duration must be positive and at most {_o.MaxSayDuration} (Dt:Gossip:MaxSayDuration)");
        lock (_lock)
        {
            long now = NowMs();
            Sweep(now);
            if (_events.Count >= _o.MaxActiveEvents)
                throw new DtException(DtErrorCodes.LimitReached, $"{_o.MaxActiveEvents} said events are held already (Dt:Gossip:MaxActiveEvents)");
            var e = new Said(Guid.NewGuid(), _gossip.Name, _node.NodeId, eventName, data, now + (long)Math.Ceiling(d.TotalMilliseconds));
            Hold(e);
            Deliver(e, now);
            Relay(e, now, null);
            return e.Id;
        }
    }

    /// <summary>Events still lasting here whose name matches <paramref name="pattern"/>, oldest deadline first.</summary>
    public IReadOnlyList<SaidEvent> Lasting(string pattern)
    {
        lock (_lock)
        {
            long now = NowMs();
            return _events.Values.Where(e => e.DeadlineMs > now && Glob.IsMatch(pattern, e.Event))
                .OrderBy(e => e.DeadlineMs).Select(e => ToDto(e, now)).ToList();
        }
    }

    private SaidEvent ToDto(Said e, long now) =>
        new(e.Id.ToString(), e.Event, EventHub.Parse(e.Data), e.Origin, e.OriginNodeId.ToString(), ExpiresAt(e, now));

    private DateTimeOffset ExpiresAt(Said e, long now) => _node.Time.GetUtcNow() + TimeSpan.FromMilliseconds(e.DeadlineMs - now);

    private void Hold(Said e)
    {
        _events[e.Id] = e;
        _forget.Enqueue(e.Id, e.DeadlineMs + RememberAfterMs);
    }

    private void Sweep(long now)
    {
        while (_forget.TryPeek(out var id, out long at) && at <= now)
        {
            _forget.Dequeue();
            _events.Remove(id);
        }
    }

    private void Relay(Said e, long now, PeerLink? from)
    {
        using var w = new WireWriter(128 + e.Data.Length);
        GossipCodec.WriteSay(w, e.Id, e.Origin, e.OriginNodeId, e.Event, e.DeadlineMs - now, e.Data);
        foreach (var l in _node.Links)
            if (l != from) l.TrySend(w.WrittenSpan);
    }

    private void Deliver(Said e, long now)
    {
        var buffer = new ArrayBufferWriter<byte>(160 + e.Data.Length + e.Event.Length + e.Origin.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("id", e.Id.ToString());
            w.WriteString("event", e.Event);
            w.WritePropertyName("data");
            w.WriteRawValue(e.Data, skipInputValidation: true);
            w.WriteString("origin", e.Origin);
            w.WriteString("originNodeId", e.OriginNodeId.ToString());
            w.WriteString("expiresAt", ExpiresAt(e, now));
            w.WriteEndObject();
        }
        _node.Events.Publish(GossipEventTypes.Say, buffer.WrittenSpan, e.Origin);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
