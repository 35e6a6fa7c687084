using System.Buffers;
using System.Text.Json;
using Dt.Modules;
using Dt.Protocol;
using Dt.Transport;

namespace Dt.Messaging;

/// <summary>
/// Broadcast messages: flooded over every link, delivered once per node (deduplicated by id within
/// <see cref="BroadcastOptions.MessageIdWindow"/>) and relayed once, so cycles in the overlay end the flood.
/// Per message nothing is allocated: the payload is serialized into a per-thread buffer, the event log copies it into
/// its ring slot's reused array, and ids, origins and encoding reuse buffers.
/// </summary>
internal sealed class BroadcastModule(BroadcastOptions options, ModuleContext context) : INodeModule
{
    private readonly MessageIdWindow _seen = new(options.MessageIdWindow, options.MaxRememberedMessageIds, context.Time);
    private readonly MessageIdSource _ids = new();
    private readonly OriginNames _origins = new();

    /// <summary>Per sending thread: the JSON and wire buffers, reused (senders may call from any thread).</summary>
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_json;
    [ThreadStatic] private static Utf8JsonWriter? t_jsonWriter;
    [ThreadStatic] private static WireWriter? t_wire;

    /// <summary>Buffers grown past this by a large message are dropped after it rather than kept per thread.</summary>
    private const int KeptBufferBytes = 64 * 1024;

    /// <summary>The nesting receivers accept (and so the sender writes at most).</summary>
    private const int MaxDepth = 64;

    public IReadOnlyCollection<MessageType> MessageTypes { get; } = [MessageType.Broadcast];

    /// <summary>Floods a message to every online node; it is delivered here too. Returns its id.</summary>
    public Guid Send(JsonElement message)
    {
        var json = Serialize(message);
        try
        {
            var payload = json.WrittenSpan;
            if (payload.Length > options.MaxMessageBytes)
                throw new DtException(DtErrorCodes.TooLarge, $"message of {payload.Length} bytes is over the limit of {options.MaxMessageBytes} bytes (Dt:MaxMessageBytes)");
            Guid id = _ids.Next();
            var now = context.Time.GetUtcNow();
            _seen.TryRemember(id, now);
            Publish(id, context.NodeId, payload);
            var w = t_wire ??= new WireWriter(512);
            w.Reset();
            BroadcastMessage.Encode(w, id, context.NodeId, now.ToUnixTimeMilliseconds(), payload);
            // The encoded message without its type byte: the same bytes a receiver relays.
            Relay(w.WrittenSpan[1..], null);
            if (w.Length > KeptBufferBytes) { w.Dispose(); t_wire = null; }
            return id;
        }
        finally
        {
            if (json.Capacity > KeptBufferBytes) { t_json = null; t_jsonWriter = null; }
        }
    }

    public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        var r = new WireReader(body.Span);
        var m = BroadcastView.Decode(ref r, options.MaxMessageBytes);
        // The link read the clock when the frame arrived: that is this message's time too.
        if (!_seen.TryRemember(m.Id, link.LastReceived)) return ValueTask.CompletedTask;
        if (!IsJson(m.Payload)) throw new ProtocolException("broadcast payload is not JSON");
        Publish(m.Id, m.Origin, m.Payload);
        Relay(body.Span, link);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The message as compact UTF-8 JSON, nested no deeper than receivers accept (refused here rather than closing
    /// links there). Taking the element's raw bytes instead, after a validation pass, measured no faster.
    /// </summary>
    private static ArrayBufferWriter<byte> Serialize(JsonElement message)
    {
        var buffer = t_json ??= new ArrayBufferWriter<byte>(256);
        buffer.ResetWrittenCount();
        var writer = t_jsonWriter ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { MaxDepth = MaxDepth });
        writer.Reset(buffer);
        try
        {
            message.WriteTo(writer);
            writer.Flush();
        }
        catch (InvalidOperationException e)
        {
            t_jsonWriter = null;
            if (buffer.Capacity > KeptBufferBytes) t_json = null;
            throw new DtException(DtErrorCodes.InvalidArgument, $"the message cannot be sent as JSON: {e.Message}");
        }
        return buffer;
    }

    /// <summary>Validates JSON without building a document (one pass of the reader).</summary>
    private static bool IsJson(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = MaxDepth });
            while (reader.Read()) { }
            return reader.TokenType != JsonTokenType.None;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private void Publish(Guid id, Guid origin, ReadOnlySpan<byte> payload)
    {
        context.Events.Publish(DtEventTypes.MessageReceived, payload, _origins.Of(origin), id);
        context.Metrics.MessageDelivered();
    }

    /// <summary>Forwards a message (its encoding after the type byte) over every link but the one it came on.</summary>
    private void Relay(ReadOnlySpan<byte> body, PeerLink? from)
    {
        var links = context.Links;
        for (int i = 0; i < links.Count; i++)
            if (links[i] != from) links[i].TrySend(MessageType.Broadcast, body);
    }

    public void Start() { }

    public void OnLinkUp(PeerLink link) { }

    public void OnLinkDown(PeerLink link) { }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
