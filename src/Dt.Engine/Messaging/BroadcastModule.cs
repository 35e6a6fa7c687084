using System.Text.Json;
using Dt.Modules;
using Dt.Protocol;
using Dt.Transport;

namespace Dt.Messaging;

/// <summary>
/// Broadcast messages: flooded over every link, delivered once per node (deduplicated by id within
/// <see cref="BroadcastOptions.MessageIdWindow"/>) and relayed once, so cycles in the overlay end the flood.
/// </summary>
internal sealed class BroadcastModule(BroadcastOptions options, ModuleContext context) : INodeModule
{
    private readonly MessageIdWindow _seen = new(options.MessageIdWindow, options.MaxRememberedMessageIds, context.Time);

    public IReadOnlyCollection<MessageType> MessageTypes { get; } = [MessageType.Broadcast];

    /// <summary>Floods a message to every online node; it is delivered here too. Returns its id.</summary>
    public Guid Send(JsonElement message)
    {
        byte[] payload = JsonSerializer.SerializeToUtf8Bytes(message);
        if (payload.Length > options.MaxMessageBytes)
            throw new DtException(DtErrorCodes.TooLarge, $"message of {payload.Length} bytes is over the limit of {options.MaxMessageBytes} bytes (Dt:MaxMessageBytes)");
        var m = new BroadcastMessage(Guid.NewGuid(), context.NodeId, context.Time.GetUtcNow().ToUnixTimeMilliseconds(), payload);
        _seen.TryRemember(m.Id);
        Deliver(m, null);
        return m.Id;
    }

    public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        var r = new WireReader(body.Span);
        var m = BroadcastMessage.Decode(ref r, options.MaxMessageBytes);
        if (!_seen.TryRemember(m.Id)) return ValueTask.CompletedTask;
        if (!IsJson(m.Payload)) throw new ProtocolException("broadcast payload is not JSON");
        Deliver(m, link);
        return ValueTask.CompletedTask;
    }

    /// <summary>Validates JSON without building a document (one pass of the reader).</summary>
    private static bool IsJson(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 64 });
            while (reader.Read()) { }
            return reader.TokenType != JsonTokenType.None;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private void Deliver(BroadcastMessage m, PeerLink? from)
    {
        context.Events.Publish(DtEventTypes.MessageReceived, json: m.Payload, origin: m.Origin.ToString(), messageId: m.Id);
        context.Metrics.MessageDelivered();
        using var w = new WireWriter(m.Payload.Length + 64);
        m.Encode(w);
        foreach (var link in context.Links)
            if (link != from) link.TrySend(w.WrittenSpan);
    }

    public void Start() { }

    public void OnLinkUp(PeerLink link) { }

    public void OnLinkDown(PeerLink link) { }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
