using System.Runtime.CompilerServices;
using System.Text.Json;
using Dt.Hosting;

namespace Dt.InProcess;

/// <summary>Broadcast messages of the node. Keyed by stream name (one stream, "default", today).</summary>
public class LocalMessageStream(string key, DtNode node) : IMessageStream
{
    private static readonly IReadOnlySet<string> MessageTypes = new HashSet<string> { DtEventTypes.MessageReceived };

    public string Key { get; } = key;

    public Task<string> Send(JsonElement message) => Task.FromResult(node.SendMessage(message).ToString());

    public async IAsyncEnumerable<DtMessage> Subscribe([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var feed = node.Events.Open(null, null, MessageTypes);
        await foreach (var e in feed.ReadAllAsync(cancellationToken))
            yield return new DtMessage(e.MessageId!, e.Origin!, e.Time, e.Value ?? default);
    }
}
