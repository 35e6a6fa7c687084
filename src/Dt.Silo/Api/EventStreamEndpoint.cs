using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>
/// GET /v1/events: the node's events as server-sent events. A stream is, in order: a notice if the position asked
/// for was issued by an earlier run of the node; the snapshot of existing objects (object_added with id 0) when
/// asked for, or when the position could not be resumed; a <c>dt-ready</c> event; then the events after the
/// position (those still held, then live ones), with keep-alive comments while idle. A subscriber that falls too far
/// behind, and every stream when the silo shuts down, gets a <c>dt-error</c> event and the end of the stream, and
/// resumes from the last id it saw.
/// </summary>
internal sealed class EventStreamEndpoint(SiloNode silo, SiloOptions options, IHostApplicationLifetime lifetime, ILogger<EventStreamEndpoint> log)
{
    /// <summary>
    /// A stream of the same format narrowed to some events (GET /v1/hear, GET /v1/maps/{name}/watch): only events
    /// <see cref="Match"/> accepts; <see cref="Snapshot"/> replaces the objects snapshot (existing=true, or a position
    /// that cannot be resumed).
    /// </summary>
    public sealed record Filter(Func<DtEvent, bool> Match, Func<SseWriter, CancellationToken, Task> Snapshot);

    public async Task HandleAsync(HttpContext ctx) => await HandleAsync(ctx, null);

    public async Task HandleAsync(HttpContext ctx, Filter? filter)
    {
        var query = EventQuery.Parse(ctx.Request);
        var node = silo.Node;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
        var ct = stop.Token;
        string remote = $"{ctx.Connection.RemoteIpAddress}:{ctx.Connection.RemotePort}";

        // A new stream starts after the node's last event, read before subscribing: the events between this read
        // and the subscription are then replayed rather than lost, and a client that reconnects with this id (sent
        // in dt-ready) misses nothing either.
        long lastId = node.LastEventId;
        string? reset = query.ResetReason(node.NodeId, lastId);
        bool fresh = reset is not null || query.After is null;
        long after = fresh ? lastId : query.After!.Value;
        bool existing = query.Existing || reset is not null;
        SiloLog.StreamOpened(log, remote, query.Table ?? "*", after, existing);

        var subscription = new EventSubscription(query.Table, after, IncludeExisting: false);
        var events = query.Table is null
            ? node.GetNode().SubscribeEvents(subscription, ct)
            : node.GetTable(query.Table).Subscribe(subscription, ct);
        var live = events.GetAsyncEnumerator(ct);
        // The engine's subscription registers synchronously inside the first MoveNextAsync; starting it before the
        // snapshot closes the gap between the two. (The engine's own IncludeExisting waits for the first live event
        // before it sends the snapshot, which would leave a quiet table's watcher with nothing, so the snapshot is
        // taken here.)
        Task<bool> next = live.MoveNextAsync().AsTask();
        string endReason = "client disconnected";
        var sse = new SseWriter(ctx.Response);
        try
        {
            await sse.StartAsync(ct);
            if (reset is not null)
                sse.Event(new DtEvent(0, DtEventTypes.Error, node.Time.GetUtcNow(), query.Table, Origin: "events", Error: reset));
            if (existing)
            {
                if (filter is not null) await filter.Snapshot(sse, ct);
                else await WriteSnapshotAsync(node, query, sse, ct);
            }
            sse.Ready(new EventStreamReady(node.NodeId.ToString(), after, fresh));
            while (true)
            {
                if (!next.IsCompleted || sse.ShouldFlush)
                {
                    await sse.FlushAsync(ct);
                    await WaitWithKeepAliveAsync(next, sse, ct);
                }
                bool has;
                try
                {
                    has = await next;
                }
                catch (DtException e)
                {
                    // subscriber_too_slow: the client resumes from its last id.
                    sse.Error(Problems.For(e.Code, e.Message));
                    endReason = e.Message;
                    break;
                }
                if (!has)
                {
                    endReason = "the node ended the stream";
                    break;
                }
                var ev = live.Current;
                if ((query.Types is null || query.Types.Contains(ev.Type)) && (filter is null || filter.Match(ev))) sse.Event(ev);
                next = live.MoveNextAsync().AsTask();
            }
            await sse.FlushAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (lifetime.ApplicationStopping.IsCancellationRequested && !ctx.RequestAborted.IsCancellationRequested)
            {
                endReason = "silo shutting down";
                // Tell the client why, so it reconnects (to this silo once restarted, or elsewhere) rather than wonder.
                try
                {
                    sse.Error(Problems.For(DtErrorCodes.Unavailable, "the silo is shutting down; resume from the last event id"));
                    await sse.FlushAsync(ctx.RequestAborted);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException) { }
            }
        }
        catch (IOException)
        {
            // The client went away mid-write.
        }
        finally
        {
            await stop.CancelAsync();
            try { await next; } catch { /* cancelled with the stream */ }
            await live.DisposeAsync();
            SiloLog.StreamEnded(log, remote, endReason);
        }
    }

    private async Task WaitWithKeepAliveAsync(Task<bool> next, SseWriter sse, CancellationToken ct)
    {
        while (!next.IsCompleted)
        {
            try
            {
                // WaitAsync drops its timer as soon as the event comes, so a busy stream leaves no timers behind.
                await next.WaitAsync(options.EventKeepAlive, ct);
            }
            catch (TimeoutException)
            {
                sse.KeepAlive();
                await sse.FlushAsync(ct);
            }
            catch (Exception) when (next.IsCompleted)
            {
                // The event's own outcome (a too-slow subscriber, say) is read by the caller.
            }
        }
    }

    private static async Task WriteSnapshotAsync(Hosting.DtNode node, EventQuery query, SseWriter sse, CancellationToken ct)
    {
        var tables = query.Table is not null ? [query.Table] : (await node.GetNode().GetTables()).Select(t => t.Table).ToList();
        foreach (var table in tables)
        {
            await foreach (var o in node.GetTable(table).ListObjects(ct))
            {
                var e = new DtEvent(0, DtEventTypes.ObjectAdded, node.Time.GetUtcNow(), table, o.Hash, o.Value, "existing");
                if (query.Types is null || query.Types.Contains(e.Type)) sse.Event(e);
                if (sse.ShouldFlush) await sse.FlushAsync(ct);
            }
        }
    }
}
