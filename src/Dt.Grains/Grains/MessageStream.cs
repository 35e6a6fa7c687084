using System.Runtime.CompilerServices;
using System.Text.Json;
using Dt.Hosting;

namespace Dt.Grains;

/// <summary>Broadcast messages of the node. Keyed by stream name (one stream, "default", today).</summary>
public class MessageStream(string key, DtNode node) : IMessageStream
{
    public string Key { get; } = key;

    public Task<string> Send(JsonElement message) => Task.FromResult(node.SendMessage(message).ToString());

    public async IAsyncEnumerable<DtMessage> Subscribe([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var e in node.Events.Subscribe(null, null, cancellationToken))
            if (e.Type == DtEventTypes.MessageReceived)
                yield return new DtMessage(e.MessageId!, e.Origin!, e.Time, e.Value ?? default);
    }
}
