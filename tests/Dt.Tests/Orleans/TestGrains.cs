using System.Collections.Concurrent;
using System.Text.Json;
using Dt.Grains.Placement;
using Orleans;
using Orleans.Runtime;
using Orleans.Streams;

namespace Dt.Tests.Orleans;

/// <summary>Listens on the Orleans stream of one node's broadcast messages; keyed by node name and placed beside it.</summary>
public interface IMessageProbeGrain : IGrainWithStringKey
{
    Task Listen();

    /// <summary>How often each message id has arrived.</summary>
    Task<IReadOnlyDictionary<string, int>> Seen();

    /// <summary>The types of the node events that arrived on the node's event stream.</summary>
    Task<IReadOnlyList<string>> EventTypes();
}

[DtNodePlacement]
public sealed class MessageProbeGrain : Grain, IMessageProbeGrain
{
    private readonly ConcurrentDictionary<string, int> _seen = new();
    private readonly ConcurrentQueue<string> _types = new();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var stream = this.GetStreamProvider(DtStreams.ProviderName)
            .GetStream<DtMessage>(StreamId.Create(DtStreams.MessagesNamespace, this.GetPrimaryKeyString()));
        await stream.SubscribeAsync((m, _) =>
        {
            _seen.AddOrUpdate(m.Id, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        });
        var events = this.GetStreamProvider(DtStreams.ProviderName)
            .GetStream<DtEvent>(StreamId.Create(DtStreams.EventsNamespace, this.GetPrimaryKeyString()));
        await events.SubscribeAsync((e, _) =>
        {
            _types.Enqueue(e.Type);
            return Task.CompletedTask;
        });
    }

    public Task Listen() => Task.CompletedTask;

    public Task<IReadOnlyDictionary<string, int>> Seen() => Task.FromResult<IReadOnlyDictionary<string, int>>(new Dictionary<string, int>(_seen));

    public Task<IReadOnlyList<string>> EventTypes() => Task.FromResult<IReadOnlyList<string>>([.. _types]);
}

/// <summary>A backend's own grain that keeps its data in a Dt table through the silo's <see cref="IDtGrainFactory"/>,
/// naming no node: writes reach a master, reads answer from the silo it runs on.</summary>
public interface IInventoryGrain : IGrainWithStringKey
{
    Task<string> Add(string item);

    Task<long> Count();

    Task<string> Silo();
}

[DtNodePlacement] // keyed "node/anything": runs on that node's silo
public sealed class InventoryGrain(IDtGrainFactory dt, ILocalSiloDetails silo) : Grain, IInventoryGrain
{
    public Task<string> Add(string item) =>
        dt.GetTable("inventory").AddObject(JsonSerializer.SerializeToElement(new { item, by = this.GetPrimaryKeyString() }));

    public async Task<long> Count() => (await dt.GetTable("inventory").GetSummary()).Count;

    public Task<string> Silo() => Task.FromResult(silo.Name);
}
