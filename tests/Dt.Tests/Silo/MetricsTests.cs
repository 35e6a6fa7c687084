using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Xunit;

namespace Dt.Tests.Silo;

/// <summary>GET /metrics of a real silo: the Prometheus text format, guarded like /v1, and the same counts as /v1/node and `dt status`.</summary>
public sealed partial class MetricsTests(ITestOutputHelper output)
{
    private const string Token = "metrics-token-0123456789abcdef";

    [Fact]
    public async Task Metrics_parse_as_Prometheus_text_are_guarded_and_count_a_refused_handshake_like_v1_node_and_dt_status()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dirs = new TempDirs();
        await using var silo = await SiloProcess.StartAsync("metrics", dirs.New("metrics"), $"--Silo:ApiToken={Token}");
        var url = new Uri(silo.Api, "/metrics");

        using (var anonymous = new HttpClient())
        using (var refused = await anonymous.GetAsync(url, ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
        }
        using (var wrong = new HttpClient())
        {
            wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
            using var refused = await wrong.GetAsync(url, ct);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        async Task<List<Sample>> ScrapeAsync()
        {
            using var response = await http.GetAsync(url, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            return Parse(await response.Content.ReadAsStringAsync(ct));
        }

        var first = await ScrapeAsync();
        Assert.Contains(first, s => s.Name.StartsWith("dt_", StringComparison.Ordinal));
        Assert.Contains(first, s => s.Name == "dt_links" && s.Labels.ContainsKey("dt_node"));
        Assert.Contains(first, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal)); // the runtime's meter
        Assert.Contains(first, s => s.Name.StartsWith("orleans_", StringComparison.Ordinal)); // Orleans' meter
        output.WriteLine(string.Join('\n', first.Where(s => s.Name.StartsWith("dt_", StringComparison.Ordinal)).Select(s => s.ToString())));

        // Junk at the peer port: refused as "protocol" (an oversized frame where the hello should be).
        using var client = silo.Client();
        var peerPort = IPEndPoint.Parse((await client.GetNode().GetInfo()).ListenEndpoints.Single());
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await s.ConnectAsync(peerPort, ct);
            var junk = new byte[16];
            Random.Shared.NextBytes(junk);
            junk[0] = 0xFF;
            await s.SendAsync(junk, ct);
            try
            {
                var buffer = new byte[4096];
                using var timeout = Eventually.CancelAfter(TimeSpan.FromSeconds(10));
                while (await s.ReceiveAsync(buffer, timeout.Token) > 0) { } // until the silo hangs up
            }
            catch (SocketException) { }
        }

        await Eventually.Until(async () => Refused(await ScrapeAsync(), "protocol") >= 1, "/metrics counts the refused handshake", polling: Polling.Node);
        var info = await client.GetNode().GetInfo();
        var stats = info.Stats!;
        Assert.True(stats.HandshakesRefused >= 1);
        Assert.True(stats.HandshakesRefusedByReason!["protocol"] >= 1);
        Assert.Equal(stats.HandshakesRefused, Enumerable.Sum(stats.HandshakesRefusedByReason.Values));
        var after = await ScrapeAsync();
        Assert.Equal(stats.HandshakesRefusedByReason["protocol"], Refused(after, "protocol"));
        Assert.Contains(after, s => s.Name == "dt_handshakes_refused_total" && s.Labels["reason"] == "wrong_key" && s.Value == 0);

        var status = await Cli.OkAsync(silo.Api, Token, "status");
        output.WriteLine(status);
        Assert.Matches(@"(?m)^refused   \d+ connections \(protocol \d+\); 0 addresses blocked now, 0 blocks in all$", status);
        Assert.Matches(@"(?m)^traffic   sent \d", status);
        Assert.Matches(@"(?m)^changes   applied \d+, dropped 0; messages delivered \d+$", status);

        // A flood of junk connections is counted in full but logged a bounded number of times.
        int warningsBefore = silo.Process.StdoutLines.Count(l => l.StartsWith("warn: Dt.Overlay", StringComparison.Ordinal));
        Assert.True(warningsBefore >= 1, "the first refused connection was logged\n" + silo.Process.Stdout);
        for (int i = 0; i < 1000; i++)
        {
            using var junkSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await junkSocket.ConnectAsync(peerPort, ct);
            var junk = new byte[16];
            Random.Shared.NextBytes(junk);
            junk[0] = 0xFF;
            await junkSocket.SendAsync(junk, ct);
        }
        await Eventually.Until(async () => (await client.GetNode().GetInfo()).Stats!.HandshakesRefused >= stats.HandshakesRefused + 1000,
            "all 1,000 junk connections are counted", polling: Polling.Node);
        int warningsAfter = silo.Process.StdoutLines.Count(l => l.StartsWith("warn: Dt.Overlay", StringComparison.Ordinal));
        Assert.True(warningsAfter - warningsBefore <= 10, $"{warningsAfter - warningsBefore} warning lines for 1,000 junk connections");
    }

    private static double Refused(List<Sample> samples, string reason) =>
        samples.Single(s => s.Name == "dt_handshakes_refused_total" && s.Labels.GetValueOrDefault("reason") == reason).Value;

    private sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
    {
        public override string ToString() => $"{Name}{{{string.Join(',', Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {Value}";
    }

    /// <summary>The Prometheus text format (0.0.4): "# HELP name text", "# TYPE name type", "name{label="value",...} value [timestamp]".
    /// Fails on any other line, on a sample whose family was not typed first, and on a family typed twice.</summary>
    private static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        var typed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line == "# EOF") continue;
            if (line.StartsWith('#'))
            {
                var m = Comment().Match(line);
                Assert.True(m.Success, $"not a HELP or TYPE line: {line}");
                if (m.Groups[1].Value == "TYPE")
                {
                    Assert.Matches("^(counter|gauge|histogram|summary|untyped)$", m.Groups[3].Value);
                    Assert.True(typed.TryAdd(m.Groups[2].Value, m.Groups[3].Value), $"typed twice: {line}");
                }
                continue;
            }
            var s = SampleLine().Match(line);
            Assert.True(s.Success, $"not a sample line: {line}");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (s.Groups[2].Success && s.Groups[2].Value.Length > 0)
            {
                string rest = LabelList().Replace(s.Groups[2].Value, m =>
                {
                    Assert.True(labels.TryAdd(m.Groups[1].Value, Regex.Unescape(m.Groups[2].Value)), $"label twice: {line}");
                    return "";
                });
                Assert.True(rest.Length == 0, $"bad labels: {line}");
            }
            string name = s.Groups[1].Value;
            Assert.True(typed.Keys.Any(f => name == f || name.StartsWith(f + "_", StringComparison.Ordinal)), $"sample of an untyped family: {line}");
            string v = s.Groups[3].Value;
            double value = v switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new Sample(name, labels, value));
        }
        Assert.NotEmpty(samples);
        return samples;
    }

    [GeneratedRegex(@"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$")]
    private static partial Regex Comment();

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)"",?")]
    private static partial Regex LabelList();
}
