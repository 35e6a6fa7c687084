namespace Dt.Messaging;

/// <summary>
/// Ids of messages already handled, remembered for a time window so that a message flooded over links that form
/// cycles is handled once per node. Bounded: beyond the cap the oldest ids are forgotten early.
/// </summary>
internal sealed class MessageIdWindow(TimeSpan window, int maxIds, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly HashSet<Guid> _ids = new();
    private readonly Queue<(Guid Id, DateTimeOffset Expires)> _order = new();

    public int Count { get { lock (_lock) return _ids.Count; } }

    /// <summary>True the first time an id is seen within the window.</summary>
    public bool TryRemember(Guid id)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            while (_order.Count > 0 && (_order.Peek().Expires <= now || _order.Count >= maxIds))
                _ids.Remove(_order.Dequeue().Id);
            if (!_ids.Add(id)) return false;
            _order.Enqueue((id, now + window));
            return true;
        }
    }
}
