using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dt.Client;

/// <summary>
/// A subscription to the silo's event stream (server-sent events) that survives dropped connections: it reconnects
/// with exponential backoff and resumes after the last event id it saw, so it misses nothing the node still holds.
/// The first connection is not retried (a wrong URL or token fails at once); later drops are retried until the
/// caller cancels. The silo may end a stream on purpose (a subscriber too slow, a shutdown); that is a drop too.
/// </summary>
internal static class EventStream
{
    public static IAsyncEnumerable<DtEvent> Read(DtApiConnection api, EventSubscription subscription, IReadOnlyList<string>? types,
        CancellationToken ct) => Read(api, subscription, types, DtApiRoutes.Events, null, ct);

    /// <summary>As the above, from another stream route of the same format (/v1/hear, /v1/maps/{name}/watch) with
    /// extra query parameters (already escaped, joined by '&amp;').</summary>
    public static async IAsyncEnumerable<DtEvent> Read(DtApiConnection api, EventSubscription subscription, IReadOnlyList<string>? types,
        string route, string? extraQuery, [EnumeratorCancellation] CancellationToken ct)
    {
        var log = api.Options.LoggerFactory?.CreateLogger("Dt.Client.EventStream") ?? NullLogger.Instance;
        var position = new Position(subscription.AfterEventId, subscription.IncludeExisting);
        int failures = 0;
        bool connectedOnce = false;
        while (true)
        {
            HttpResponseMessage? response = null;
            string? dropReason = null;
            try
            {
                response = await api.OpenStreamAsync(position.Path(subscription.Table, types, route, extraQuery), "text/event-stream", ct);
            }
            catch (DtException e) when (connectedOnce && e.Code is DtErrorCodes.Unavailable or DtApiErrors.Internal)
            {
                dropReason = e.Message;
            }

            if (response is not null)
            {
                connectedOnce = true;
                using (response)
                {
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    var stream = new IdleTimeoutStream(await response.Content.ReadAsStreamAsync(ct), idle, api.Options.EventIdleTimeout);
                    await using var items = SseParser.Create(stream).EnumerateAsync(idle.Token).GetAsyncEnumerator(idle.Token);
                    while (true)
                    {
                        var (item, error) = await NextAsync(items, ct);
                        if (item is not { } it)
                        {
                            dropReason = error ?? "the silo closed the stream";
                            break;
                        }
                        if (it.EventType == DtApiRoutes.ReadyEvent)
                        {
                            var ready = Parse(it.Data, DtJsonContext.Default.EventStreamReady);
                            position.OnReady(ready);
                            failures = 0;
                            ClientLog.StreamReady(log, api.BaseAddress, ready.NodeId, position.After ?? 0);
                        }
                        else if (it.EventType == DtApiRoutes.ErrorEvent)
                        {
                            var problem = Parse(it.Data, DtJsonContext.Default.DtProblem);
                            // Too slow or shutting down: resume from the last id; anything else is the caller's to see.
                            if (problem.Code is not (DtErrorCodes.SubscriberTooSlow or DtErrorCodes.Unavailable))
                                throw new DtException(problem.Code, problem.Detail);
                            dropReason = problem.Detail;
                            break;
                        }
                        else
                        {
                            var e = Parse(it.Data, DtJsonContext.Default.DtEvent);
                            position.OnEvent(e);
                            yield return e;
                        }
                    }
                }
            }

            ct.ThrowIfCancellationRequested();
            var delay = Backoff(api.Options, failures++);
            ClientLog.StreamDropped(log, api.BaseAddress, dropReason ?? "unknown", (long)delay.TotalMilliseconds, position.After ?? 0);
            await Task.Delay(delay, ct);
        }
    }

    /// <summary>The next item, or null with the reason when the connection ended (C# allows no yield inside a try
    /// with catch, so reading is separated from yielding).</summary>
    private static async Task<(SseItem<string>? Item, string? Error)> NextAsync(IAsyncEnumerator<SseItem<string>> items, CancellationToken ct)
    {
        try
        {
            return await items.MoveNextAsync() ? (items.Current, null) : (null, null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, "nothing received within the idle timeout");
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            return (null, e.Message);
        }
    }

    private static T Parse<T>(string data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(data, type) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new DtException(DtApiErrors.Internal, $"the silo sent an event that is not the expected JSON: {e.Message}", e);
        }
    }

    internal static TimeSpan Backoff(DtClientOptions o, int failures)
    {
        double ms = o.ReconnectBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 20));
        ms = Math.Min(ms, o.ReconnectMaxDelay.TotalMilliseconds);
        // Jitter spreads the reconnects of many clients after a silo restart.
        return TimeSpan.FromMilliseconds(ms * (0.5 + Random.Shared.NextDouble() / 2));
    }

    /// <summary>Where a subscription stands: the id to resume after, and whether the snapshot of existing objects
    /// (asked for at the start) is still owed because no connection got as far as its ready marker.</summary>
    private sealed class Position(long? after, bool existing)
    {
        private string? _nodeId;
        private bool _ready;

        /// <summary>Null until the first stream is ready: the silo then starts from its last event.</summary>
        public long? After { get; private set; } = after;

        public void OnReady(EventStreamReady ready)
        {
            _ready = true;
            _nodeId = ready.NodeId;
            if (ready.Fresh) After = ready.LastEventId;
        }

        public void OnEvent(DtEvent e)
        {
            if (e.Id > 0) After = e.Id;
        }

        public string Path(string? table, IReadOnlyList<string>? types, string route, string? extraQuery)
        {
            var query = new List<string>();
            if (!string.IsNullOrEmpty(extraQuery)) query.Add(extraQuery);
            if (After is { } after) query.Add($"after={after}");
            if (table is not null) query.Add("table=" + Uri.EscapeDataString(table));
            if (existing && !_ready) query.Add("existing=true");
            if (types is { Count: > 0 }) query.Add("types=" + Uri.EscapeDataString(string.Join(',', types)));
            // Lets the silo tell a restarted node (whose ids start again) from the one that issued our ids.
            if (_nodeId is not null) query.Add("node=" + _nodeId);
            return query.Count == 0 ? route : route + "?" + string.Join('&', query);
        }
    }
}
