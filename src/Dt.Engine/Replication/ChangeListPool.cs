using System.Collections.Concurrent;

namespace Dt.Replication;

/// <summary>
/// Lists of decoded changes, reused: a link's read loop takes one per group it decodes and its applier gives them
/// back once applied, so a steady stream of frames allocates no per-change storage beyond the objects' JSON.
/// Holds a few frames' worth, for all of a node's links together; beyond that lists are left to the collector.
/// </summary>
internal sealed class ChangeListPool
{
    private const int MaxKept = 64;
    private readonly ConcurrentQueue<List<Change>> _free = new();

    public List<Change> Rent(int capacity)
    {
        if (!_free.TryDequeue(out var list)) return new List<Change>(capacity);
        list.EnsureCapacity(capacity);
        return list;
    }

    /// <summary>Lists kept for reuse (tests and diagnostics).</summary>
    public int Kept => _free.Count;

    /// <summary>
    /// Lets go of every kept list (a bulk sync leaves up to <see cref="MaxKept"/> lists of a full batch, 25 MB, which
    /// a quiet node need not hold); lists rented now still come back.
    /// </summary>
    public void Clear()
    {
        while (_free.TryDequeue(out _)) { }
    }

    /// <summary>Takes a list back, emptied (so it holds no JSON), unless enough are kept.</summary>
    public void Return(List<Change> list)
    {
        list.Clear();
        if (_free.Count < MaxKept) _free.Enqueue(list);
    }
}
