namespace Dt.Files;

/// <summary>How a mirror fetches and how often it looks again.</summary>
public sealed record MirrorOptions
{
    /// <summary>Chunks of one file fetched at once. Default 4.</summary>
    public int ParallelFetches { get; init; } = 4;

    /// <summary>Files written at once (small files are dominated by round trips and flushes to disk). Default 4.</summary>
    public int ParallelFiles { get; init; } = 4;

    /// <summary>Fetch at most this many raw bytes per second (null: as fast as the node serves). Default null.</summary>
    public double? MaxBytesPerSecond { get; init; }

    /// <summary>A following mirror re-reads the set this often even when no change was heard. Default 30 s.</summary>
    public TimeSpan RecheckInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>After a pass that left files undone (chunks not replicated yet, the node unreachable), the next pass
    /// comes after a delay doubling from 100 ms up to this. Default 5 s.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>Where a pass is: the file being written, its bytes so far, and the pass's counts.</summary>
public sealed record MirrorProgress(string Path, long FileBytesDone, long FileBytes, int FilesDone, int FilesToWrite, long BytesFetched);

/// <summary>What one pass did. <see cref="Complete"/>: the directory now matches the set as the node holds it
/// (refused manifests aside: those are never written).</summary>
public sealed record MirrorPassResult(int Files, int Written, int Deleted, int Unchanged, int Failed, int Refused, long BytesFetched, IReadOnlyList<string> Errors)
{
    public bool Complete => Failed == 0;
}

/// <summary>Paces fetches to a byte rate (a token bucket without a burst allowance beyond one chunk).</summary>
internal sealed class BytePacer(double bytesPerSecond, TimeProvider time)
{
    private long _nextTicks = time.GetTimestamp();

    public Task WaitAsync(int bytes, CancellationToken ct)
    {
        long now = time.GetTimestamp(), start;
        lock (this)
        {
            start = Math.Max(_nextTicks, now);
            _nextTicks = start + (long)(bytes / bytesPerSecond * time.TimestampFrequency);
        }
        var wait = TimeSpan.FromSeconds((double)(start - now) / time.TimestampFrequency);
        return wait <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(wait, time, ct);
    }
}
