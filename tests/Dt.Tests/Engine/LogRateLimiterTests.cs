using System.Net;
using Dt.Diagnostics;
using Dt.Tests.Silo;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Dt.Tests.Engine;

/// <summary>The per-source limiter of warning lines, on a manual clock.</summary>
public sealed class LogRateLimiterTests
{
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.7"), B = IPAddress.Parse("198.51.100.1");

    [Fact]
    public void The_first_event_of_a_source_is_logged_then_one_per_interval_and_a_summary_counts_the_rest()
    {
        var time = new ManualTime();
        var limiter = new LogRateLimiter<IPAddress>(TimeSpan.FromMinutes(1), time);

        Assert.True(limiter.ShouldLog(A));
        Assert.True(limiter.ShouldLog(B)); // sources are apart
        int logged = 0;
        for (int i = 0; i < 4_211; i++)
        {
            if (limiter.ShouldLog(A)) logged++;
            time.Advance(TimeSpan.FromMilliseconds(10)); // 42 s in all: inside the first interval
        }
        Assert.Equal(0, logged);
        Assert.Empty(limiter.Flush()); // no period has ended yet

        time.Advance(TimeSpan.FromSeconds(18)); // a minute since A's first event
        var summaries = limiter.Flush();
        var a = Assert.Single(summaries); // B had nothing held back: no summary for it
        Assert.Equal((A, false, 4_212L, 1L, 4_211L), (a.Source, a.Others, a.Events, a.Logged, a.Suppressed));
        Assert.Equal("minute", a.PeriodText);
        Assert.Empty(limiter.Flush()); // nothing twice

        // One line a minute at most, however long the flood lasts.
        Assert.True(limiter.ShouldLog(A)); // a minute after the last line
        Assert.False(limiter.ShouldLog(A));
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(limiter.ShouldLog(A));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(limiter.ShouldLog(A));

        // A source quiet for a whole period is forgotten, so its next event is logged at once again.
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Single(limiter.Flush()); // A's second period: 4 events, 2 logged
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(limiter.Flush());
        Assert.Equal(0, limiter.SourceCount);
        Assert.True(limiter.ShouldLog(B));
    }

    [Fact]
    public void Sources_beyond_the_capacity_are_counted_together()
    {
        var time = new ManualTime();
        var limiter = new LogRateLimiter<int>(TimeSpan.FromSeconds(10), time, maxSources: 3);
        int logged = 0;
        for (int source = 0; source < 1_000; source++)
            if (limiter.ShouldLog(source)) logged++;
        Assert.Equal(3 + 1, logged); // three sources apart, then one line for all the others
        Assert.Equal(3, limiter.SourceCount);
        time.Advance(TimeSpan.FromSeconds(10));
        var others = Assert.Single(limiter.Flush());
        Assert.Equal((true, 997L, 1L, "10 s"), (others.Others, others.Events, others.Logged, others.PeriodText));
    }

    [Fact]
    public void Peer_warnings_write_the_first_line_then_a_summary_line()
    {
        var time = new ManualTime();
        var capture = new CapturingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(capture).SetMinimumLevel(LogLevel.Trace));
        var warnings = new PeerWarnings(loggers.CreateLogger("Dt.Overlay"), loggers.CreateLogger("Dt.Node"), TimeSpan.FromMinutes(1), time);
        for (int i = 0; i < 4_212; i++) warnings.HandshakeRefused(IPAddress.Loopback, "not a Dt peer (bad hello)");
        warnings.Blocked(IPAddress.Parse("2001:db8:1:2::10"));
        warnings.Blocked(IPAddress.Parse("2001:db8:1:2::99")); // the same /64
        time.Advance(TimeSpan.FromMinutes(1));
        warnings.Flush();

        var lines = capture.Entries.Select(e => (e.Level, e.Category, e.Message)).ToList();
        Assert.Equal(new[]
        {
            (LogLevel.Warning, "Dt.Overlay", "Refused peer 127.0.0.1: not a Dt peer (bad hello)"),
            (LogLevel.Warning, "Dt.Overlay", "Connection from blocked address 2001:db8:1:2::10 dropped"),
        }, lines.Take(2));
        Assert.Equal(new[]
        {
            (LogLevel.Warning, "Dt.Overlay", "Refused 2 connections from 2001:db8:1:2::/64 in the last minute (1 not logged one by one)"),
            (LogLevel.Warning, "Dt.Overlay", "Refused 4,212 connections from 127.0.0.1 in the last minute (4,211 not logged one by one)"),
        }, lines.Skip(2).OrderBy(l => l.Message, StringComparer.Ordinal));
    }
}
