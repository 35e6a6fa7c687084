using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Dt.Hosting;

/// <summary>
/// Gives memory back to the operating system after the node has taken in a bulk of objects (an initial sync, a
/// catch-up, a large import, or its own log at start) and gone quiet. The GC keeps the memory such a burst of
/// short-lived buffers needed committed for good (measured: 88 MB beside 199 MB of live heap on a node that synced
/// 1M objects of 100 B, still held ten idle seconds later); one full, compacting, decommitting collection returns it.
/// Checked once per tick: it runs when at least the threshold of JSON bytes arrived since the last trim and none in
/// the last tick, at most once per <see cref="MinInterval"/>, so a node under steady load never pauses for it.
/// </summary>
/// <param name="dropCaches">Lets go of what the node keeps only to reuse (pooled buffers), before the collection.</param>
internal sealed class MemoryTrim(long thresholdBytes, Func<long> takenInBytes, TimeProvider time, ILogger log, Action? dropCaches = null)
{
    /// <summary>Least time between two trims of one node: a full collection of a large heap takes a while.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(30);

    private long _atLastTrim;
    private long _atLastTick = -1;
    private DateTimeOffset _lastTrim = DateTimeOffset.MinValue;

    /// <summary>Trims done so far.</summary>
    public int Trims { get; private set; }

    /// <summary>Whether the node went quiet after taking in enough to be worth a trim, and the last one is long enough ago.</summary>
    public bool Due(long takenIn, DateTimeOffset now)
    {
        bool quiet = takenIn == _atLastTick;
        _atLastTick = takenIn;
        return thresholdBytes > 0 && quiet && takenIn - _atLastTrim >= thresholdBytes && now - _lastTrim >= MinInterval;
    }

    public void Tick()
    {
        long takenIn = takenInBytes();
        var now = time.GetUtcNow();
        if (!Due(takenIn, now)) return;
        _atLastTrim = takenIn;
        _lastTrim = now;
        long before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        var started = Stopwatch.GetTimestamp();
        dropCaches?.Invoke();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var took = Stopwatch.GetElapsedTime(started);
        Trims++;
        long after = GC.GetGCMemoryInfo().TotalCommittedBytes;
        DtLog.MemoryTrimmed(log, (before - after) >> 20, after >> 20, took.TotalMilliseconds);
    }
}
