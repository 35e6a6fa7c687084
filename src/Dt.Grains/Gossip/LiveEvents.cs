using Dt.Events;

namespace Dt.Gossip;

/// <summary>
/// A subscription to the node's event stream that is registered as soon as it is created (so a snapshot taken after
/// it misses nothing) and that can be dropped at any time, also while a read is pending.
/// </summary>
internal sealed class LiveEvents : IAsyncDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly IAsyncEnumerator<DtEvent> _events;
    private ValueTask<bool> _next;
    private bool _pending;

    private LiveEvents(EventHub hub, CancellationToken ct)
    {
        _cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _events = hub.Subscribe(null, null, _cts.Token).GetAsyncEnumerator(_cts.Token);
        // The first step of the enumeration registers the subscriber synchronously.
        _next = _events.MoveNextAsync();
        _pending = true;
    }

    public static LiveEvents Start(EventHub hub, CancellationToken ct) => new(hub, ct);

    /// <summary>The next event, or null when the stream ended.</summary>
    public async ValueTask<DtEvent?> NextAsync()
    {
        bool ok = await _next;
        _pending = false;
        if (!ok) return null;
        var current = _events.Current;
        _next = _events.MoveNextAsync();
        _pending = true;
        return current;
    }

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        if (_pending)
        {
            try { await _next; }
            catch (OperationCanceledException) { }
            catch (DtException) { }
        }
        await _events.DisposeAsync();
        _cts.Dispose();
    }
}
