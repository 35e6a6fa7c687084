namespace Dt.Diagnostics;

/// <summary>What a <see cref="LogRateLimiter{TKey}"/> held back from one source during one period.</summary>
/// <param name="Source">The source, or default for <see cref="Others"/>.</param>
/// <param name="Others">Sources beyond the limiter's capacity, counted together.</param>
/// <param name="Events">Events in the period, logged or not.</param>
/// <param name="Logged">Of those, the ones <see cref="LogRateLimiter{TKey}.ShouldLog"/> let through.</param>
/// <param name="Period">How long the period was.</param>
internal readonly record struct LogSummary<TKey>(TKey? Source, bool Others, long Events, long Logged, TimeSpan Period)
{
    public long Suppressed => Events - Logged;

    /// <summary>"minute", "2 minutes", "30 s": for lines such as "refused 4,212 connections from 127.0.0.1 in the last minute".</summary>
    public string PeriodText => LogRateLimiter.FormatPeriod(Period);
}

internal static class LogRateLimiter
{
    public static string FormatPeriod(TimeSpan period)
    {
        double s = Math.Round(period.TotalSeconds);
        if (s == 60) return "minute";
        if (s > 60 && s % 60 == 0) return $"{s / 60:0} minutes";
        return $"{s:0} s";
    }
}

/// <summary>
/// Keeps a flood of per-source warnings (one per refused connection, say) from flooding the log: the first event of
/// a source is logged, then at most one per source per <c>interval</c>; every event is counted, and
/// <see cref="Flush"/>, called now and then, returns for each source whose period of <c>interval</c> has ended with
/// events held back a summary to log instead ("refused 4,212 connections from 127.0.0.1 in the last minute").
/// A source quiet for a whole period is forgotten, so its next event is logged again. At most <c>maxSources</c>
/// sources are told apart; events of further sources are counted together as <see cref="LogSummary{TKey}.Others"/>,
/// under the same rule. Driven by a <see cref="TimeProvider"/>; thread-safe.
/// </summary>
internal sealed class LogRateLimiter<TKey>(TimeSpan interval, TimeProvider time, int maxSources = 4096) where TKey : notnull
{
    private sealed class Entry(DateTimeOffset start)
    {
        public DateTimeOffset PeriodStart = start;
        public DateTimeOffset? LastLogged;
        public long Events, Logged;
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<TKey, Entry> _entries = new();
    private Entry? _others;
    private DateTimeOffset _nextFlush = DateTimeOffset.MinValue;

    public TimeSpan Interval => interval;

    /// <summary>Counts an event of <paramref name="source"/>; true if it is to be logged.</summary>
    public bool ShouldLog(TKey source)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (!_entries.TryGetValue(source, out var e))
            {
                if (_entries.Count < maxSources) _entries[source] = e = new Entry(now);
                else e = _others ??= new Entry(now);
            }
            if (_nextFlush == DateTimeOffset.MinValue || e.PeriodStart + interval < _nextFlush) _nextFlush = e.PeriodStart + interval;
            e.Events++;
            if (e.LastLogged is { } last && now - last < interval) return false;
            e.LastLogged = now;
            e.Logged++;
            return true;
        }
    }

    /// <summary>Ends the periods that have lasted <c>interval</c>: summaries of those with events held back; cheap when none is due.</summary>
    public IReadOnlyList<LogSummary<TKey>> Flush()
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (_nextFlush == DateTimeOffset.MinValue || now < _nextFlush) return [];
            var summaries = new List<LogSummary<TKey>>();
            var next = DateTimeOffset.MaxValue;
            List<TKey>? quiet = null;
            foreach (var (source, e) in _entries)
            {
                if (End(e, now, source, false, summaries)) (quiet ??= []).Add(source);
                else if (e.PeriodStart + interval < next) next = e.PeriodStart + interval;
            }
            foreach (var k in quiet ?? []) _entries.Remove(k);
            if (_others is not null)
            {
                if (End(_others, now, default, true, summaries)) _others = null;
                else if (_others.PeriodStart + interval < next) next = _others.PeriodStart + interval;
            }
            _nextFlush = next == DateTimeOffset.MaxValue ? DateTimeOffset.MinValue : next;
            return summaries;
        }
    }

    /// <summary>Ends an entry's period if due; true if the entry had no events in it (then it is forgotten).</summary>
    private bool End(Entry e, DateTimeOffset now, TKey? source, bool others, List<LogSummary<TKey>> summaries)
    {
        if (now - e.PeriodStart < interval) return false;
        if (e.Events == 0) return true;
        if (e.Events > e.Logged) summaries.Add(new LogSummary<TKey>(source, others, e.Events, e.Logged, now - e.PeriodStart));
        e.PeriodStart = now;
        e.Events = e.Logged = 0;
        return false;
    }

    /// <summary>Sources told apart now (for tests).</summary>
    public int SourceCount
    {
        get { lock (_lock) return _entries.Count; }
    }
}
