namespace Dt.Replication;

/// <summary>
/// The batches recently streamed in full on one link, kept identically by sender and receiver: the sender marks
/// such groups "remember", the receiver remembers exactly those, and both evict the oldest by the same member
/// budget. A later group of the same batch then travels as a 24-byte reference instead of its member list.
/// Only the serialized bulk stream of a link uses it, so both sides see the same order.
/// </summary>
internal sealed class BatchMemory
{
    /// <summary>Members (33 bytes each on the wire) kept per link and direction.</summary>
    public const int MemberBudget = 1 << 16;

    private readonly Dictionary<(Guid, ulong), ChangeBatch> _batches = new();
    private readonly Queue<ChangeBatch> _order = new();
    private readonly Lock _lock = new();
    private int _members;

    public bool TryGet(Guid author, ulong hlc, out ChangeBatch batch)
    {
        lock (_lock) return _batches.TryGetValue((author, hlc), out batch!);
    }

    public bool Contains(ChangeBatch batch)
    {
        lock (_lock) return _batches.ContainsKey(batch.Key);
    }

    public void Remember(ChangeBatch batch)
    {
        lock (_lock)
        {
            if (!_batches.TryAdd(batch.Key, batch)) return;
            _order.Enqueue(batch);
            _members += batch.Count;
            while (_members > MemberBudget && _order.Count > 1)
            {
                var old = _order.Dequeue();
                _batches.Remove(old.Key);
                _members -= old.Count;
            }
        }
    }
}
