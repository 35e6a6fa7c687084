using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Dt.Hosting;
using Dt.Security;
using Dt.Tests.Silo;
using Microsoft.Extensions.Logging;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

/// <summary>A flood of junk at the peer port is counted in full and logged in a few lines.</summary>
public sealed partial class LogFloodTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_thousand_junk_connections_are_all_counted_and_log_a_bounded_number_of_warnings()
    {
        var ct = TestContext.Current.CancellationToken;
        var capture = new CapturingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(capture).SetMinimumLevel(LogLevel.Debug));
        var options = DtOptions.ForTests(NetworkKey.Generate().ToBase64());
        options.PeerWarningInterval = TimeSpan.FromSeconds(2); // short, so the summary line comes within the test
        await using var node = await DtNode.StartAsync(options, loggers);
        var to = new IPEndPoint(IPAddress.Loopback, node.Port!.Value);

        var rng = new Random(12);
        var junk = new byte[16];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 1_000; i++)
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(to, ct);
            rng.NextBytes(junk);
            try { await s.SendAsync(junk, ct); }
            catch (SocketException) { } // the node dropped it first (over the handshake rate)
        }
        output.WriteLine($"1,000 junk connections in {clock.ElapsedMilliseconds} ms");

        // Every connection is counted once, under a reason; most are over the handshake rate of one address.
        long Refused() => Enum.GetValues<RefusalReason>().Sum(r => node.Metrics.Refused(r));
        await Eventually.Until(() => Refused() >= 1_000, "every junk connection is counted as refused");
        Assert.Equal(1_000, Refused());
        Assert.True(node.Metrics.Refused(RefusalReason.RateLimited) > 0);
        Assert.True(node.Metrics.Refused(RefusalReason.Protocol) + node.Metrics.Refused(RefusalReason.Closed) > 0);
        var stats = (await node.GetNode().GetInfo()).Stats!;
        Assert.Equal(1_000, stats.HandshakesRefused);
        Assert.Equal(1_000, stats.HandshakesRefusedByReason!.Values.Sum());

        // The log: the first refusal, at most one line per interval, and a summary per interval.
        await Eventually.Until(() => Warnings(capture).Any(w => Summary().IsMatch(w)), "a summary line of the refusals");
        var warnings = Warnings(capture);
        foreach (var w in warnings) output.WriteLine(w);
        Assert.True(warnings.Count <= 10, $"{warnings.Count} warning lines for 1,000 junk connections");
        Assert.Matches(@"^(Refused peer 127\.0\.0\.1: |Connection from 127\.0\.0\.1 dropped: too many handshakes)", warnings[0]);
        long summed = warnings.Select(w => Summary().Match(w)).Where(m => m.Success).Sum(m => long.Parse(m.Groups[1].Value.Replace(",", "")));
        Assert.InRange(summed, 2, 1_000);
    }

    private static List<string> Warnings(CapturingLoggerProvider capture) =>
        capture.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.Message).ToList();

    [GeneratedRegex(@"^Refused ([\d,]+) connections from 127\.0\.0\.1 in the last \d+ s \([\d,]+ not logged one by one\)$")]
    private static partial Regex Summary();
}
