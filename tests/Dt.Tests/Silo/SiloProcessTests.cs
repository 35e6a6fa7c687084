using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dt.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Dt.Tests.Silo;

/// <summary>The HTTP API, DtClient and `dt` against real silo processes: refusals, bad input, the token, bulk import,
/// and an event stream that survives a dropped connection.</summary>
public sealed class SiloProcessTests(TwoSilos silos) : IClassFixture<TwoSilos>
{
    private static JsonElement Json(string s) => JsonDocument.Parse(s).RootElement.Clone();

    private static HttpClient Http(string? token = TwoSilos.Token)
    {
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task<DtProblem> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), DtJsonContext.Default.DtProblem)!;
        Assert.Equal((int)response.StatusCode, problem.Status);
        Assert.False(string.IsNullOrWhiteSpace(problem.Detail));
        return problem;
    }

    [Fact]
    public async Task A_non_master_refuses_changes_with_403_through_http_the_client_and_the_cli()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = Http(token: null);
        var response = await http.PostAsync(new Uri(silos.Node.Api, "/v1/tables/default/objects"), new StringContent("""{"a":1}"""), ct);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Equal(DtErrorCodes.NotMaster, problem.Code);

        using var client = silos.Node.Client();
        var e = await Assert.ThrowsAsync<DtException>(() => client.GetTable().AddObject(Json("""{"a":1}""")));
        Assert.Equal((DtErrorCodes.NotMaster, problem.Detail), (e.Code, e.Message));
        var removal = await Assert.ThrowsAsync<DtException>(() => client.GetTable().RemoveObject(new string('0', 64)));
        Assert.Equal(DtErrorCodes.NotMaster, removal.Code);

        var cli = await Cli.RunAsync(silos.Node.Api, null, "add", """{"a":1}""");
        Assert.Equal(1, cli.ExitCode);
        Assert.Equal($"dt: {problem.Detail}", cli.Stderr.Trim());
    }

    [Fact]
    public async Task Malformed_input_gets_a_4xx_problem_and_the_silo_keeps_serving()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = Http();
        var api = silos.Master.Api;
        string zeros = new('0', 64);
        var cases = new (HttpMethod Method, string Path, string? Body, string? ContentType, HttpStatusCode Status, string Code)[]
        {
            (HttpMethod.Post, "/v1/tables/default/objects", """{"a":""", null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Post, "/v1/tables/default/objects", "", null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Post, "/v1/tables/default/objects", "{} {}", null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Post, "/v1/tables/default/objects", new string('[', 100) + new string(']', 100), null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Post, "/v1/tables/default/objects:batch", "{\"a\":1}\n{oops}\n", "application/x-ndjson", HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Post, "/v1/tables/default/objects:batch", "[1,2", "application/json", HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Post, "/v1/tables/bad%20name!/objects", "{}", null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Get, "/v1/tables/" + new string('t', 200), null, null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Get, "/v1/tables/default/objects/not-a-hash", null, null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Get, "/v1/tables/default/objects/" + zeros, null, null, HttpStatusCode.NotFound, DtApiErrors.NotFound),
            (HttpMethod.Delete, "/v1/tables/default/objects/" + zeros, null, null, HttpStatusCode.NotFound, DtApiErrors.NotFound),
            (HttpMethod.Get, "/v1/events?after=soon", null, null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Get, "/v1/events?table=a%20b", null, null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Post, "/v1/messages", "hello", null, HttpStatusCode.BadRequest, DtErrorCodes.InvalidArgument),
            (HttpMethod.Post, "/v1/tables/default/objects", "[\"" + new string('x', TwoSilos.MaxBodyBytes) + "\"]", null, HttpStatusCode.RequestEntityTooLarge, DtErrorCodes.TooLarge),
            (HttpMethod.Get, "/v1/no-such-thing", null, null, HttpStatusCode.NotFound, DtApiErrors.NotFound),
        };
        foreach (var c in cases)
        {
            using var request = new HttpRequestMessage(c.Method, new Uri(api, c.Path));
            if (c.Body is not null)
            {
                request.Content = new StringContent(c.Body, Encoding.UTF8);
                if (c.ContentType is not null) request.Content.Headers.ContentType = new MediaTypeHeaderValue(c.ContentType);
            }
            using var response = await http.SendAsync(request, ct);
            Assert.True(c.Status == response.StatusCode, $"{c.Method} {c.Path}: expected {c.Status}, got {response.StatusCode}");
            var problem = await ProblemAsync(response);
            Assert.True(c.Code == problem.Code, $"{c.Method} {c.Path}: expected code {c.Code}, got {problem.Code} ({problem.Detail})");
        }

        // A chunked body (no Content-Length) over the cap is cut off as it arrives.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("[\"" + new string('y', 2 * TwoSilos.MaxBodyBytes) + "\"]")));
        using (var request = new HttpRequestMessage(HttpMethod.Post, new Uri(api, "/v1/tables/default/objects:batch")) { Content = chunked })
        {
            request.Headers.TransferEncodingChunked = true;
            using var response = await http.SendAsync(request, ct);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            Assert.Equal(DtErrorCodes.TooLarge, (await ProblemAsync(response)).Code);
        }

        // The line of a bad NDJSON batch is named.
        using (var response = await http.PostAsync(new Uri(api, "/v1/tables/default/objects:batch"), new StringContent("1\n{oops}\n", Encoding.UTF8, "application/x-ndjson"), ct))
            Assert.Contains("line 2", (await ProblemAsync(response)).Detail);

        using var client = silos.Master.Client();
        Assert.Equal("ready", (await client.GetHealthAsync(ct)).Status);
        Assert.NotNull(await client.GetTable("still-fine").AddObject(Json("{}")));
    }

    [Fact]
    public async Task The_api_token_guards_v1_but_not_healthz()
    {
        var ct = TestContext.Current.CancellationToken;
        using (var anonymous = Http(token: null))
        {
            using var refused = await anonymous.GetAsync(new Uri(silos.Master.Api, "/v1/node"), ct);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal(DtApiErrors.Unauthorized, (await ProblemAsync(refused)).Code);
            using var health = await anonymous.GetAsync(new Uri(silos.Master.Api, "/healthz"), ct);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            // The Orleans Dashboard is guarded like /v1.
            using var dashboard = await anonymous.GetAsync(new Uri(silos.Master.Api, "/dashboard/"), ct);
            Assert.Equal(HttpStatusCode.Unauthorized, dashboard.StatusCode);
        }
        using (var authorized = Http(token: TwoSilos.Token))
        using (var dashboard = await authorized.GetAsync(new Uri(silos.Master.Api, "/dashboard/"), ct))
        {
            Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
            Assert.Contains("<html", await dashboard.Content.ReadAsStringAsync(ct), StringComparison.OrdinalIgnoreCase);
        }
        using (var wrong = Http(token: TwoSilos.Token + "x"))
        using (var refused = await wrong.GetAsync(new Uri(silos.Master.Api, "/v1/node"), ct))
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        using var noToken = new DtClient(silos.Master.Api.ToString());
        Assert.Equal(DtApiErrors.Unauthorized, (await Assert.ThrowsAsync<DtException>(() => noToken.GetNode().GetInfo())).Code);
        using var withToken = new DtClient(silos.Master.Api.ToString(), TwoSilos.Token);
        Assert.True((await withToken.GetNode().GetInfo()).IsMaster);

        var cli = await Cli.RunAsync(silos.Master.Api, null, "status");
        Assert.Equal(1, cli.ExitCode);
        Assert.StartsWith("dt: this silo needs its API token", cli.Stderr.Trim());
        Assert.Contains("(master)", await Cli.OkAsync(silos.Master.Api, TwoSilos.Token, "status"));
    }

    [Fact]
    public async Task An_Orleans_client_calls_the_grains_of_a_silo_through_its_gateway()
    {
        var ct = TestContext.Current.CancellationToken;
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.UseDtOrleansClient(o => o.GatewayPorts = [silos.Master.GatewayPort]);
        using var host = builder.Build();
        await host.StartAsync(ct);
        var dt = host.Services.GetRequiredService<IDtGrainFactory>();

        var info = await dt.GetNode().GetInfo();
        Assert.True(info.IsMaster);
        Assert.NotNull(info.Name);
        var hash = await dt.GetTable("orleans-gateway").AddObject(JsonDocument.Parse("""{"via":"gateway"}""").RootElement);
        // The same node over HTTP, and the other silo (a Dt node of its own Orleans cluster) over the overlay.
        using var http = silos.Master.Client();
        Assert.NotNull(await http.GetTable("orleans-gateway").GetObject(hash));
        using var other = silos.Node.Client();
        await Eventually.Until(async () => await other.GetTable("orleans-gateway").GetObject(hash) is not null, "the other node has the object", polling: Polling.Node);
        // Both HTTP and Orleans refuse the same way: a named non-master node is not in this cluster at all.
        string otherName = (await other.GetNode().GetInfo()).Name!;
        var elsewhere = await Assert.ThrowsAsync<DtException>(() => ((DtGrainFactory)dt).OnNode(otherName).GetNode().GetInfo());
        Assert.Equal(DtErrorCodes.Unavailable, elsewhere.Code);
        await host.StopAsync(ct);
    }

    [Fact]
    public async Task Dt_import_adds_100000_objects_in_seconds_and_they_replicate()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dirs = new TempDirs();
        string file = Path.Combine(dirs.New("import"), "objects.jsonl");
        await using (var w = new StreamWriter(file))
            for (int i = 0; i < 100_000; i++)
                await w.WriteLineAsync($$"""{"id":{{i}},"name":"object {{i}}","tags":["t{{i % 10}}"]}""");

        var clock = Stopwatch.StartNew();
        var result = await Cli.RunAsync(silos.Master.Api, TwoSilos.Token, "import", "--table", "bulk", file);
        clock.Stop();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("imported 100000 objects into table 'bulk'", result.Stdout.Trim());
        Assert.Contains("objects/s", result.Stdout);
        Assert.Matches(@"\[#*\s*\] \d+% [\d,]+ objects, [\d,]+/s", result.Stderr); // the progress line
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"import took {clock.Elapsed}");

        using var master = silos.Master.Client();
        using var node = silos.Node.Client();
        var summary = await master.GetTable("bulk").GetSummary();
        Assert.Equal(100_000, summary.Count);
        await Eventually.Until(async () => (await node.GetTable("bulk").GetSummary()) == summary, "the other node has the imported table", polling: Polling.Node);

        // A bad line stops the import with its number.
        await File.WriteAllTextAsync(file, "{\"ok\":1}\n\n{broken\n", ct);
        var bad = await Cli.RunAsync(silos.Master.Api, TwoSilos.Token, "import", "--table", "bulk2", file);
        Assert.Equal(1, bad.ExitCode);
        Assert.StartsWith("dt: line 3 is not valid JSON", bad.Stderr.Trim());
    }

    [Fact]
    public async Task An_event_stream_resumes_after_a_dropped_connection_and_misses_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var proxy = new TcpProxy(silos.Node.Api);
        var loggers = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(new Dt.Tests.Engine.TestOutputLoggerProvider()));
        using var viaProxy = new DtClient(new DtClientOptions
        {
            BaseAddress = proxy.Url, ReconnectBaseDelay = TimeSpan.FromMilliseconds(50), ReconnectMaxDelay = TimeSpan.FromMilliseconds(200), LoggerFactory = loggers,
        });
        using var master = silos.Master.Client();
        using var node = silos.Node.Client();
        var table = master.GetTable("resume");
        using var cts = Eventually.CancelAfter();
        await using var events = viaProxy.GetTable("resume").Subscribe(new EventSubscription(), cts.Token).GetAsyncEnumerator(cts.Token);

        // Probes until one arrives: then the stream is registered on the node (the client has no "connected" signal).
        var moving = events.MoveNextAsync().AsTask();
        int probes = 0;
        while (!moving.IsCompleted)
        {
            await table.AddObject(Json($$"""{"probe":{{probes++}}}"""));
            await Task.WhenAny(moving, Task.Delay(200, ct));
        }
        Assert.True(await moving);
        long lastId = events.Current.Id;
        await Eventually.Until(async () => (await node.GetTable("resume").GetSummary()).Count == probes, "the node has every probe", polling: Polling.Node);

        // The connection drops and stays down while objects are added.
        proxy.Refusing = true;
        proxy.DropAll();
        var during = new List<string>();
        for (int i = 0; i < 5; i++) during.Add(await table.AddObject(Json($$"""{"during":{{i}}}""")));
        await Eventually.Until(async () => (await node.GetTable("resume").GetSummary()).Count == probes + 5, "the node has the objects added while the client was cut off", polling: Polling.Node);
        int acceptedWhileDown = proxy.Accepted;
        proxy.Refusing = false;

        var received = new List<DtEvent> { events.Current };
        while (!during.All(h => received.Any(e => e.Hash == h)) && await events.MoveNextAsync()) received.Add(events.Current);
        Assert.Equal(during, received.Where(e => during.Contains(e.Hash!)).Select(e => e.Hash));
        Assert.All(received, e => Assert.Equal(DtEventTypes.ObjectAdded, e.Type));
        Assert.Equal(received.Select(e => e.Id).Distinct().Order(), received.Select(e => e.Id));
        Assert.True(received.Where(e => during.Contains(e.Hash!)).All(e => e.Id > lastId));
        Assert.True(proxy.Accepted > acceptedWhileDown, "the client reconnected");
    }
}
