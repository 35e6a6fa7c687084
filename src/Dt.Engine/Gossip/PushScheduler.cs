using Dt.Transport;

namespace Dt.Gossip;

/// <summary>What <see cref="PushScheduler{TKey, TPlan}"/> shares whatever it is of.</summary>
internal static class PushScheduler
{
    /// <summary>The source of a range made on this node (or relayed from more than one link): every link gets it.</summary>
    public const long Everyone = -1;
}

/// <summary>
/// Pushes of a Scuttlebutt module (gossip state, maps): ranges that advanced here are queued by what they are of (an
/// owner; a map's writer) and coalesced until one flush on the thread pool sends them, so a burst of writes and relays
/// shares messages and a busy node sends fewer, larger pushes instead of falling behind. A range made here goes to
/// every link; a relayed one to every link but the one it came from. Not thread-safe: the module calls it under its lock,
/// and its flush callback takes that lock and calls <see cref="Flush"/>.
/// </summary>
internal sealed class PushScheduler<TKey, TPlan>(DeltaPacker<TPlan> packer, Action flush)
    where TKey : notnull
    where TPlan : struct
{
    private const long Everyone = PushScheduler.Everyone;

    private readonly Dictionary<TKey, (long From, long Source)> _pending = [];
    private bool _queued;

    /// <summary>Queues the range of <paramref name="key"/> above <paramref name="from"/>, learned from the link
    /// <paramref name="source"/> (<see cref="Everyone"/>: made here), for the next flush.</summary>
    public void Queue(TKey key, long from, long source)
    {
        if (_pending.TryGetValue(key, out var q)) _pending[key] = (Math.Min(q.From, from), q.Source == source ? source : Everyone);
        else _pending[key] = (from, source);
        Schedule();
    }

    /// <summary>Asks for a flush soon (once, however often it is asked before the flush runs).</summary>
    public void Schedule()
    {
        if (_queued) return;
        _queued = true;
        ThreadPool.UnsafeQueueUserWorkItem(_ => flush(), null);
    }

    /// <summary>
    /// Takes every queued range and pushes it: <paramref name="own"/> (this node's writes, if any) and the ranges for
    /// every link first, then each relayed source's ranges to every link but that source. <paramref name="plan"/> turns
    /// a queued range into what to send (null: nothing left to send of it).
    /// </summary>
    public void Flush(IReadOnlyList<PeerLink> links, long now, Func<TKey, long, TPlan?> plan, TPlan? own = null)
    {
        _queued = false;
        var all = new List<TPlan>();
        if (own is { } mine) all.Add(mine);
        var bySource = new Dictionary<long, List<TPlan>>();
        foreach (var (key, (from, source)) in _pending)
        {
            if (plan(key, from) is not { } p) continue;
            if (source == Everyone) all.Add(p);
            else if (bySource.TryGetValue(source, out var list)) list.Add(p);
            else bySource[source] = [p];
        }
        _pending.Clear();
        if (links.Count == 0) return;
        if (all.Count > 0) packer.Push(links, all, now);
        foreach (var (source, plans) in bySource)
        {
            var targets = links.Where(l => l.Id != source).ToList();
            if (targets.Count > 0) packer.Push(targets, plans, now);
        }
    }
}
