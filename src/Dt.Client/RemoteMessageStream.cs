using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Dt.Client;

/// <summary><see cref="IMessageStream"/> over the silo's HTTP API.</summary>
public class RemoteMessageStream : IMessageStream
{
    private readonly DtApiConnection _api;

    internal RemoteMessageStream(string key, DtApiConnection api)
    {
        Key = key;
        _api = api;
    }

    public string Key { get; }

    public async Task<string> Send(JsonElement message)
    {
        var result = await _api.PostAsync(DtApiRoutes.Messages, RemoteTableGrain.Serialize(message), DtJsonContext.Default.MessageIdResult);
        return result.Id;
    }

    public async IAsyncEnumerable<DtMessage> Subscribe([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // The silo filters by type, so a busy table does not flood a message subscriber.
        await foreach (var e in EventStream.Read(_api, new EventSubscription(), [DtEventTypes.MessageReceived], cancellationToken))
            if (e.Type == DtEventTypes.MessageReceived)
                yield return new DtMessage(e.MessageId ?? "", e.Origin ?? "", e.Time, e.Value ?? default);
    }
}
