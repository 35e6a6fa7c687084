using System.Text.Json;
using Dt.Grains.Hosting;
using Dt.Grains.Placement;
using Dt.InProcess;
using Orleans.Concurrency;

namespace Dt.Grains;

/// <summary>A node's broadcast messages, keyed "node/default" (<see cref="DtGrainKeys.MessageStream"/>): any node
/// sends to every online node. The same messages are on the Orleans stream <see cref="DtStreams.Messages"/>.</summary>
[DtNodePlacement, Reentrant]
public sealed class MessageStream(DtSiloNode silo) : DtGrain(silo, hasName: true), IMessageStream
{
    private LocalMessageStream Local => new(Key.Name, Node);

    public Task<string> Send(JsonElement message) => Local.Send(message);

    public IAsyncEnumerable<DtMessage> Subscribe(CancellationToken cancellationToken = default) => Local.Subscribe(cancellationToken);
}
