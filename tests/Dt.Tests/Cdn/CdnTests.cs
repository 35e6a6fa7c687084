using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dt.Tests.Files;
using Dt.Tests.Silo;
using Xunit;

namespace Dt.Tests.Cdn;

using Cli = Dt.Tests.Silo.Cli;

/// <summary>
/// The CDN over real processes: three silos serving the file set 'site' (Cdn:Enabled), beaconing every 300 ms, the
/// master also redirecting. A client following redirects gets the same bytes from every node; ETag/304 and Range
/// work (HttpClient, and curl where installed); a publish is served everywhere; a killed node leaves the redirects;
/// the nodes keep serving their replicas with the master down.
/// </summary>
public sealed partial class CdnTests(CdnNodes nodes) : IClassFixture<CdnNodes>
{
    [Fact]
    public async Task Three_nodes_serve_the_set_behind_a_redirector_that_drops_a_killed_node()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dirs = new TempDirs();
        string site = dirs.New("site");
        var big = FileTrees.RandomBytes(new Random(5), 1_500_000);
        FileTrees.Write(site, "index.html", "<h1>Dt CDN</h1>\n"u8.ToArray());
        FileTrees.Write(site, "assets/big.bin", big);
        FileTrees.Write(site, "assets/style.css", "body { color: #333 }\n"u8.ToArray());
        await Cli.OkAsync(nodes.Master.Api, null, "files", "publish", site, "--set", "site");

        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        var urls = nodes.ContentUrls();
        foreach (var u in urls)
            await Eventually.Until(async () => (await http.GetAsync(u + "/assets/big.bin", ct)).StatusCode == HttpStatusCode.OK, $"{u} serves the set", polling: Polling.Node);
        string redirector = nodes.RedirectorUrl;
        await Eventually.Until(async () => LiveUrls(await http.GetStringAsync(redirector + "/_dt/cdn/nodes", ct)).Count == 3, "the redirector hears three nodes", polling: Polling.Node);

        // Redirects go round the lightly loaded nodes (the polls above may have loaded one for a beacon or two):
        // followed until each node was redirected to, each serves the same bytes.
        var sent = new HashSet<string>();
        await Eventually.Until(async () =>
        {
            using var r = await http.GetAsync(redirector + "/assets/big.bin?v=1", ct);
            Assert.Equal(HttpStatusCode.Found, r.StatusCode);
            var location = r.Headers.Location!.ToString();
            Assert.EndsWith("/assets/big.bin?v=1", location);
            sent.Add(location[..location.IndexOf("/assets", StringComparison.Ordinal)]);
            Assert.Equal(big, await http.GetByteArrayAsync(location, ct));
            return sent.Count == 3;
        }, "the redirector has sent a client to each node", polling: Polling.Node);
        Assert.Equal(urls.Order(), sent.Order());
        using (var follow = new HttpClient())
            Assert.Equal("<h1>Dt CDN</h1>\n", await follow.GetStringAsync(redirector + "/", ct));

        // Content type, ETag, 304, ranges (also across a chunk boundary), 416.
        string node = urls[1];
        using (var r = await http.GetAsync(node + "/assets/style.css", ct))
        {
            Assert.Equal("text/css", r.Content.Headers.ContentType!.MediaType);
            var etag = r.Headers.ETag!;
            using var again = new HttpRequestMessage(HttpMethod.Get, node + "/assets/style.css");
            again.Headers.IfNoneMatch.Add(etag);
            Assert.Equal(HttpStatusCode.NotModified, (await http.SendAsync(again, ct)).StatusCode);
        }
        foreach (var (from, to) in new[] { (0L, 99L), (262_000L, 800_000L), (1_499_990L, 1_499_999L) })
        {
            using var ranged = new HttpRequestMessage(HttpMethod.Get, node + "/assets/big.bin") { Headers = { Range = new RangeHeaderValue(from, to) } };
            using var r = await http.SendAsync(ranged, ct);
            Assert.Equal(HttpStatusCode.PartialContent, r.StatusCode);
            Assert.Equal($"bytes {from}-{to}/{big.Length}", r.Content.Headers.ContentRange!.ToString());
            Assert.Equal(big[(int)from..(int)(to + 1)], await r.Content.ReadAsByteArrayAsync(ct));
        }
        using (var past = new HttpRequestMessage(HttpMethod.Get, node + "/assets/big.bin") { Headers = { Range = new RangeHeaderValue(2_000_000, null) } })
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, (await http.SendAsync(past, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(node + "/missing.txt", ct)).StatusCode);
        await CurlChecksAsync(node, big);

        // A publish on the master is served by every node.
        big[1000] ^= 0xFF;
        FileTrees.Write(site, "assets/big.bin", big, modified: new DateTime(2026, 5, 5, 0, 0, 0, DateTimeKind.Utc));
        await Cli.OkAsync(nodes.Master.Api, null, "files", "publish", site, "--set", "site");
        string newTag = $"\"{Convert.ToHexStringLower(SHA256.HashData(big))}\"";
        foreach (var u in urls)
            await Eventually.Until(async () => (await http.GetAsync(u + "/assets/big.bin", ct)).Headers.ETag?.Tag == newTag, $"{u} serves the new version", polling: Polling.Node);

        // Node 3 is killed (no last beacon): it leaves the redirects once its beacons are missed.
        string gone = nodes.ContentUrlOf(nodes.Node3);
        var clock = Stopwatch.StartNew();
        nodes.Node3.Process.Kill();
        await Eventually.Until(async () => !LiveUrls(await http.GetStringAsync(redirector + "/_dt/cdn/nodes", ct)).Contains(gone), "the redirector drops node 3", polling: Polling.Node);
        TestContext.Current.SendDiagnosticMessage($"node 3 dropped {clock.ElapsedMilliseconds} ms after the kill (beacon interval 300 ms, 3 missed)");
        for (int i = 0; i < 6; i++)
        {
            using var r = await http.GetAsync(redirector + "/assets/big.bin", ct);
            Assert.DoesNotContain(gone, r.Headers.Location!.ToString());
        }

        // With the master (and the redirector) down, node 2 serves its replica.
        nodes.Master.Process.Kill();
        await nodes.Master.Process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(big, await http.GetByteArrayAsync(nodes.ContentUrlOf(nodes.Node2) + "/assets/big.bin", ct));
    }

    private static List<string> LiveUrls(string json) =>
        JsonDocument.Parse(json).RootElement.EnumerateArray().Select(n => n.GetProperty("url").GetString()!).ToList();

    /// <summary>The same checks with curl, the client the issue names, where it is installed.</summary>
    private static async Task CurlChecksAsync(string node, byte[] big)
    {
        if (!File.Exists("/usr/bin/curl")) return;
        string head = await RunAsync("curl", "-sS", "-D", "-", "-o", "/dev/null", node + "/assets/big.bin");
        string etag = EtagLine().Match(head).Groups[1].Value;
        Assert.Contains("304", await RunAsync("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", $"If-None-Match: {etag}", node + "/assets/big.bin"));
        string range = await RunAsync("curl", "-sS", "-r", "100-199", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", node + "/assets/big.bin");
        Assert.Equal("206 100", range.Trim());
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        string output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);
        return output;
    }

    [GeneratedRegex(@"(?im)^etag:\s*(\S+)")]
    private static partial Regex EtagLine();
}

/// <summary>Three silos serving the file set 'site' on free ports, beaconing every 300 ms; the master also redirects.</summary>
public sealed partial class CdnNodes : ThreeNodes
{
    protected override string[] Settings(string node) =>
    [
        "--Cdn:Enabled=true", "--Cdn:Set=site", "--Cdn:Urls:0=http://127.0.0.1:0", "--Cdn:BeaconInterval=00:00:00.3",
        .. node == "master" ? new[] { "--Cdn:Redirect=true", "--Cdn:RedirectUrls:0=http://127.0.0.1:0" } : [],
    ];

    internal string RedirectorUrl => Redirector().Match(Master.Process.Stdout).Groups[1].Value;

    internal string ContentUrlOf(SiloProcess silo) => Serving().Match(silo.Process.Stdout).Groups[1].Value;

    internal List<string> ContentUrls() => [ContentUrlOf(Master), ContentUrlOf(Node2), ContentUrlOf(Node3)];

    [GeneratedRegex(@"CDN serving file set 'site' on (http://\S+)")]
    private static partial Regex Serving();

    [GeneratedRegex(@"CDN redirector for file set 'site' on (http://\S+)")]
    private static partial Regex Redirector();
}
