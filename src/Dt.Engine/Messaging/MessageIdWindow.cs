namespace Dt.Messaging;

/// <summary>
/// Ids of messages already handled, remembered for a time window so that a message flooded over links that form
/// cycles is handled once per node. Bounded: beyond the cap the oldest ids are forgotten early.
/// </summary>
internal sealed class MessageIdWindow(TimeSpan window, int maxIds, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly HashSet<Guid> _ids = new();
    private readonly Queue<(Guid Id, long ExpiresTicks)> _order = new();
    private readonly long _windowTicks = window.Ticks;

    public int Count { get { lock (_lock) return _ids.Count; } }

    /// <summary>True the first time an id is seen within the window.</summary>
    public bool TryRemember(Guid id) => TryRemember(id, time.GetUtcNow());

    /// <summary>As <see cref="TryRemember(Guid)"/>, at a time the caller already read (a clock read per message shows in profiles).</summary>
    public bool TryRemember(Guid id, DateTimeOffset at)
    {
        long now = at.UtcTicks;
        lock (_lock)
        {
            while (_order.Count > 0 && (_order.Peek().ExpiresTicks <= now || _order.Count >= maxIds))
                _ids.Remove(_order.Dequeue().Id);
            if (!_ids.Add(id)) return false;
            _order.Enqueue((id, now + _windowTicks));
            return true;
        }
    }
}
