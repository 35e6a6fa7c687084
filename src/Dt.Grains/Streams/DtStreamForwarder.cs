using Dt.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Orleans.Streams;

namespace Dt.Grains;

/// <summary>
/// Publishes the silo's node events (all, or all but the per-object ones: <see cref="DtStreamEvents"/>) to the
/// Orleans streams of <see cref="DtStreams"/>, from the silo's
/// <see cref="ServiceLifecycleStage.Active"/> stage (streams need the silo up) until it stops. Drop policy: the
/// forwarder reads the node's events through a bounded feed like any subscriber; when Orleans streams fall that far
/// behind (a bulk sync of a large table, say), the events the feed could not hold are skipped and counted in a
/// warning, and forwarding goes on with the node's newer events.
/// </summary>
internal sealed partial class DtStreamForwarder(DtSiloNode silo, IServiceProvider services, ILogger<DtStreamForwarder> log, DtStreamEvents what)
    : ILifecycleParticipant<ISiloLifecycle>
{
    private const int MaxBatch = 512;

    /// <summary>The node's events but the per-object ones (<see cref="DtStreamEvents.NodeEvents"/>).</summary>
    private static readonly IReadOnlySet<string> NodeEventTypes = new HashSet<string>
    {
        DtEventTypes.Started, DtEventTypes.MessageReceived, DtEventTypes.Error,
        GossipEventTypes.StateSet, GossipEventTypes.StateDeleted, GossipEventTypes.KeyExpired, GossipEventTypes.PeerNew,
        GossipEventTypes.PeerUp, GossipEventTypes.PeerDown, GossipEventTypes.PeerForgotten, GossipEventTypes.Say,
        GossipEventTypes.MapSet, GossipEventTypes.MapDelete, GossipEventTypes.MapReady,
    };

    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(DtStreamForwarder), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken ct)
    {
        var provider = services.GetRequiredKeyedService<IStreamProvider>(DtStreams.ProviderName);
        var node = silo.Node;
        var messages = provider.GetStream<DtMessage>(StreamId.Create(DtStreams.MessagesNamespace, silo.Name));
        var events = provider.GetStream<DtEvent>(StreamId.Create(DtStreams.EventsNamespace, silo.Name));
        _run = Task.Run(() => RunAsync(node, messages, events, _stop.Token));
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken ct)
    {
        await _stop.CancelAsync();
        try { await _run.WaitAsync(ct); } catch (Exception) when (_run.IsCompleted || ct.IsCancellationRequested) { }
    }

    private async Task RunAsync(Dt.Hosting.DtNode node, IAsyncStream<DtMessage> messages, IAsyncStream<DtEvent> events, CancellationToken ct)
    {
        long after = node.LastEventId;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var e = node.ReadEvents(after, what == DtStreamEvents.AllEvents ? null : NodeEventTypes, ct).GetAsyncEnumerator(ct);
                // What the feed already holds goes out as one batch per stream: a bulk sync's events cost one
                // stream message per batch, not one each.
                var batch = new List<DtEvent>(MaxBatch);
                var said = new List<DtMessage>();
                while (true)
                {
                    var next = e.MoveNextAsync();
                    if (batch.Count > 0 && (!next.IsCompleted || batch.Count >= MaxBatch))
                    {
                        if (said.Count > 0) await messages.OnNextBatchAsync(said);
                        await events.OnNextBatchAsync(batch);
                        batch = new List<DtEvent>(MaxBatch);
                        said = [];
                    }
                    if (!await next) break;
                    var ev = e.Current;
                    if (ev.Id > 0) // 0: a notice of the feed itself (events no longer held)
                    {
                        if (after > 0 && ev.Id > after + 1) Skipped(log, silo.Name, ev.Id - after - 1);
                        after = ev.Id;
                    }
                    if (ev.Type == DtEventTypes.MessageReceived)
                        said.Add(new DtMessage(ev.MessageId!, ev.Origin!, ev.Time, ev.Value ?? default));
                    batch.Add(ev);
                }
                return;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (DtException e) when (e.Code == DtErrorCodes.SubscriberTooSlow)
            {
                // Resume after the last event forwarded; what the node no longer holds is skipped (logged above).
                FellBehind(log, silo.Name, after);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                PublishFailed(log, silo.Name, e.Message);
                try { await Task.Delay(TimeSpan.FromSeconds(1), ct); } catch (OperationCanceledException) { return; }
            }
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Orleans streams of node {Node} fell behind its events after event {After}; forwarding resumes with the events still held")]
    private static partial void FellBehind(ILogger log, string node, long after);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Orleans streams of node {Node}: {Count} events were skipped (the node no longer held them)")]
    private static partial void Skipped(ILogger log, string node, long count);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "publishing to the Orleans streams of node {Node} failed: {Error}; retrying")]
    private static partial void PublishFailed(ILogger log, string node, string error);
}
