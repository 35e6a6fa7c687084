using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dt.Silo;
using Dt.Tests.Engine;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Dt.Tests.Silo;

/// <summary>
/// The status page (/ and /status): served openly with no data in it and a policy that allows only its own inline
/// script and style and calls to its own origin; in headless Chromium against real silos, it shows the node, follows
/// its events live (resuming after a dropped connection without losing or repeating one), and with a token asks for
/// it and sends it.
/// </summary>
public sealed class StatusPageTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string Token = "status-page-token-0123456789";

    private static readonly string[] ChromiumArgs =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic",
    ];

    static StatusPageTests() => SetDefaultExpectTimeout((float)Eventually.Deadline.TotalMilliseconds);

    private static JsonElement Json(string s) => JsonDocument.Parse(s).RootElement.Clone();

    [Fact]
    public async Task The_page_is_served_without_the_token_holds_no_data_and_allows_only_itself()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true);
        await using var silo = await InProcessSilo.StartAsync(node, new SiloOptions { ApiToken = Token });
        using var http = new HttpClient();
        foreach (string path in new[] { "/", "/status" })
        {
            using var response = await http.GetAsync(new Uri(silo.Url, path), ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            Assert.True(response.Headers.CacheControl?.NoStore, $"{path}: Cache-Control no-store");
            string policy = string.Join(", ", response.Headers.GetValues("Content-Security-Policy"));
            string html = await response.Content.ReadAsStringAsync(ct);

            Assert.StartsWith("default-src 'none';", policy);
            Assert.Contains("connect-src 'self'", policy);
            Assert.DoesNotContain("unsafe", policy);
            // The policy names the SHA-256 of exactly the inline script and style served: anything else is refused.
            Assert.Contains($"script-src 'sha256-{Sha256(Inline(html, "script"))}'", policy);
            Assert.Contains($"style-src 'sha256-{Sha256(Inline(html, "style"))}'", policy);
            Assert.Equal("nosniff", string.Join("", response.Headers.GetValues("X-Content-Type-Options")));

            Assert.Contains("<title>Dt node</title>", html);
            Assert.DoesNotContain(node.NodeId.ToString(), html);
            Assert.DoesNotMatch(@"(src|href)\s*=\s*""?(https?:)?//", html); // nothing from elsewhere
        }

        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(silo.Url, "/status")), ct);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        using var data = await http.GetAsync(new Uri(silo.Url, "/v1/node"), ct);
        Assert.Equal(HttpStatusCode.Unauthorized, data.StatusCode);
    }

    [Fact]
    public async Task Without_a_token_the_page_shows_the_node_its_link_and_members_follows_events_live_and_resumes_after_a_dropped_connection()
    {
        await using var browser = await LaunchAsync();
        using var dirs = new TempDirs();
        await using var silo = await SiloProcess.StartAsync("status", dirs.New("status"));
        await using var other = await SiloProcess.StartAsync("status-other", dirs.New("status-other"), JoinCommand.From(silo.Process));
        await other.WaitHealthyAsync();
        using var client = silo.Client();
        var info = await client.GetNode().GetInfo();
        using var otherClient = other.Client();
        var otherInfo = await otherClient.GetNode().GetInfo();
        await using var proxy = new TcpProxy(silo.Api);
        // The node's counters (stats) are shown whatever they hold: here some added to its real answer.
        var (page, problems) = await OpenAsync(browser, new Uri(proxy.Url, "/status"), page => page.RouteAsync("**/v1/node", async route =>
        {
            var response = await route.FetchAsync();
            var json = JsonNode.Parse(await response.TextAsync())!.AsObject();
            json["stats"] = JsonNode.Parse("""{"refusedHandshakes":3,"blocked":{"ips":["192.0.2.7","192.0.2.8"]},"note":"<i id=\"stats-injected\">x</i>"}""");
            json["warnings"] = JsonNode.Parse("""["degraded: dropping changes from untrusted master 00ff"]""");
            await route.FulfillAsync(new RouteFulfillOptions { Response = response, Body = json.ToJsonString() });
        }));

        await Expect(page.Locator("#auth")).ToBeHiddenAsync();
        await Expect(page.Locator("#node-id")).ToHaveTextAsync(info.NodeId);
        await Expect(page.Locator("#node-name")).ToHaveTextAsync(info.Name!);
        await Expect(page.Locator("#node-master")).ToHaveTextAsync("yes");
        await Expect(page.Locator("#node-network")).ToHaveTextAsync(info.Network);
        await Expect(page.Locator("#node-warnings")).ToHaveTextAsync("degraded: dropping changes from untrusted master 00ff");
        await Expect(page.Locator("#events-state")).ToHaveTextAsync("live");
        await Expect(page.Locator("#links tr", new() { HasText = otherInfo.NodeId }).Locator(".rtt")).ToHaveTextAsync(new Regex(@"^\d+\.\d\d$"));
        await Expect(page.Locator("#members tr", new() { HasText = otherInfo.Name! })).ToContainTextAsync("Alive");
        await Expect(page.Locator("#stats tr", new() { HasText = "refusedHandshakes" }).Locator("td")).ToHaveTextAsync("3");
        await Expect(page.Locator("#stats tr", new() { HasText = "blocked.ips" }).Locator("td")).ToHaveTextAsync("192.0.2.7, 192.0.2.8");
        await Expect(page.Locator("#stats tr", new() { HasText = "note" }).Locator("td")).ToHaveTextAsync("<i id=\"stats-injected\">x</i>");

        // Data goes into the page as text: markup in an object stays characters.
        string first = await client.GetTable("t").AddObject(Json("""{"status":"page","n":1,"html":"<b id=\"injected\">x</b>"}"""));
        await Expect(EventRow(page, first)).ToHaveCountAsync(1);
        await Expect(EventRow(page, first)).ToContainTextAsync("<b id=\\\"injected\\\">x</b>");
        await Expect(page.Locator("#tables tr[data-table='t'] .count")).ToHaveTextAsync("1");
        await Expect(page.Locator("#injected, #stats-injected")).ToHaveCountAsync(0);

        // The connection drops and stays down while an object is added: only a stream resumed from the page's
        // last event id (not a fresh one, not a replay from the start) shows it exactly once, and the first once.
        proxy.Refusing = true;
        proxy.DropAll();
        await Expect(page.Locator("#events-state")).ToHaveTextAsync(new Regex("resuming"));
        string second = await client.GetTable("t").AddObject(Json("""{"status":"page","n":2}"""));
        proxy.Refusing = false;

        await Expect(EventRow(page, second)).ToHaveCountAsync(1);
        await Expect(page.Locator("#events-state")).ToHaveTextAsync("live");
        await Expect(page.Locator("#tables tr[data-table='t'] .count")).ToHaveTextAsync("2");
        await Expect(EventRow(page, first)).ToHaveCountAsync(1);

        string screenshot = Path.Combine(dirs.New("screenshots"), "status.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        Assert.True(new FileInfo(screenshot).Length > 10_000, "the screenshot holds a rendered page");
        Assert.Empty(problems);
    }

    [Fact]
    public async Task With_a_token_the_page_asks_for_it_keeps_it_for_the_session_and_sends_it()
    {
        await using var browser = await LaunchAsync();
        using var dirs = new TempDirs();
        await using var silo = await SiloProcess.StartAsync("status-token", dirs.New("status-token"), $"--Silo:ApiToken={Token}");
        using var client = silo.Client();
        var info = await client.GetNode().GetInfo();
        var (page, problems) = await OpenAsync(browser, silo.Api);

        await Expect(page.Locator("#token")).ToBeVisibleAsync();
        await Expect(page.Locator("#main")).ToBeHiddenAsync();
        Assert.DoesNotContain(info.NodeId, await page.ContentAsync());

        await page.Locator("#token").FillAsync(Token + "-wrong");
        await page.Locator("#token-submit").ClickAsync();
        await Expect(page.Locator("#auth-message")).ToContainTextAsync("refused this token");
        await Expect(page.Locator("#main")).ToBeHiddenAsync();

        await page.Locator("#token").FillAsync(Token);
        await page.Locator("#token-submit").ClickAsync();
        await Expect(page.Locator("#node-id")).ToHaveTextAsync(info.NodeId);
        await Expect(page.Locator("#node-name")).ToHaveTextAsync(info.Name!);
        await Expect(page.Locator("#auth")).ToBeHiddenAsync();
        await Expect(page.Locator("#events-state")).ToHaveTextAsync("live");
        Assert.Equal(Token, await page.EvaluateAsync<string>("sessionStorage.getItem('dt-token')"));

        string hash = await client.GetTable("t").AddObject(Json("""{"status":"page","token":true}"""));
        await Expect(EventRow(page, hash)).ToHaveCountAsync(1);
        await Expect(page.Locator("#tables tr[data-table='t'] .count")).ToHaveTextAsync("1");
        // The node's own counters, as far as it reports any.
        using (var http = new HttpClient())
        {
            http.DefaultRequestHeaders.Authorization = new("Bearer", Token);
            var node = JsonNode.Parse(await http.GetStringAsync(new Uri(silo.Api, "/v1/node"), TestContext.Current.CancellationToken))!.AsObject();
            if (node["stats"] is JsonObject { Count: > 0 } stats)
                await Expect(page.Locator("#stats th").First).ToHaveTextAsync(new Regex("^" + Regex.Escape(stats.First().Key)));
            else
                await Expect(page.Locator("#stats")).ToContainTextAsync("reports no counters");
        }

        // A reload in the same tab keeps the token: no second question.
        await page.ReloadAsync();
        await Expect(page.Locator("#node-id")).ToHaveTextAsync(info.NodeId);
        await Expect(page.Locator("#auth")).ToBeHiddenAsync();
        Assert.Empty(problems);
    }

    private static ILocator EventRow(IPage page, string hash) => page.Locator($"#events tr[data-type='object_added'][data-hash='{hash}']");

    private static async Task<IBrowser> LaunchAsync()
    {
        if (!File.Exists(Chromium)) Assert.Skip($"{Chromium} is missing (apt-get install chromium): the status page is tested in headless Chromium");
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ChromiumArgs });
            browser.Disconnected += (_, _) => playwright.Dispose();
            return browser;
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>A new page at <paramref name="url"/>, and the list of what went wrong in it: uncaught script errors and
    /// anything the Content-Security-Policy refused (the refused calls of a missing token are expected, not listed).</summary>
    private static async Task<(IPage Page, List<string> Problems)> OpenAsync(IBrowser browser, Uri url, Func<IPage, Task>? prepare = null)
    {
        var page = await browser.NewPageAsync();
        if (prepare is not null) await prepare(page);
        var problems = new List<string>();
        page.PageError += (_, error) => { lock (problems) problems.Add("script error: " + error); };
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase)) lock (problems) problems.Add("CSP: " + message.Text);
        };
        var response = await page.GotoAsync(url.ToString());
        Assert.Equal(200, response?.Status);
        return (page, problems);
    }

    private static string Inline(string html, string tag)
    {
        var match = Regex.Match(html, $"<{tag}>(.*?)</{tag}>", RegexOptions.Singleline);
        Assert.True(match.Success, $"the page has an inline <{tag}>");
        return match.Groups[1].Value;
    }

    private static string Sha256(string text) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
