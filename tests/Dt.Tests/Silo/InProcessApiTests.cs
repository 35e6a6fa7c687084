using System.Net;
using System.Text;
using System.Text.Json;
using Dt.Hosting;
using Dt.Client;
using Dt.Replication;
using Dt.Tests.Engine;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Dt.Tests.Silo;

/// <summary>
/// The HTTP API in this process (the silo's endpoint mapping in front of a DtNode): the remote client against the
/// in-process node, messages, the raw server-sent events, a too-slow subscriber, and a node restarted under a stream.
/// </summary>
public sealed class InProcessApiTests
{
    private static JsonElement Json(string s) => JsonDocument.Parse(s).RootElement.Clone();

    private static async Task<List<T>> TakeAsync<T>(IAsyncEnumerable<T> items, int count)
    {
        var list = new List<T>();
        using var cts = Eventually.CancelAfter();
        await foreach (var item in items.WithCancellation(cts.Token))
        {
            list.Add(item);
            if (list.Count == count) break;
        }
        return list;
    }

    [Fact]
    public async Task The_remote_client_gives_the_same_answers_as_the_in_process_node()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true);
        await using var silo = await InProcessSilo.StartAsync(node);
        using var client = silo.Client();
        IDtGrainFactory local = node, remote = client;
        const string table = "parity/a:b";

        string h1 = await remote.GetTable(table).AddObject(Json("""{"b":2,"a":1}""")); // '/' and ':' travel in the path
        Assert.Equal(h1, await local.GetTable(table).AddObject(Json("""{"a":1,"b":2}""")));
        var more = await remote.GetTable(table).AddObjects([Json("1"), Json("\"two\""), Json("[3]")]);
        Assert.Equal(more, await local.GetTable(table).AddObjects([Json("1"), Json("\"two\""), Json("[3]")]));

        foreach (var f in new[] { local, remote })
        {
            var t = f.GetTable(table);
            Assert.Equal(await local.GetTable(table).GetSummary(), await t.GetSummary());
            var record = await t.GetObject(h1);
            Assert.Equal(1, record!.Value.GetProperty("a").GetInt32());
            Assert.Null(await t.GetObject(new string('0', 64)));
            var listed = new List<ObjectRecord>();
            await foreach (var r in t.ListObjects(TestContext.Current.CancellationToken)) listed.Add(r);
            Assert.Equal(new[] { h1 }.Concat(more).Order(), listed.Select(r => r.Hash).Order());
            var e = await Assert.ThrowsAsync<DtException>(() => t.GetObject("nope"));
            Assert.Equal(DtErrorCodes.InvalidArgument, e.Code);
            Assert.Equal(DtErrorCodes.InvalidArgument, Assert.Throws<DtException>(() => f.GetTable("bad name")).Code);
        }
        var localError = await Assert.ThrowsAsync<DtException>(() => local.GetTable(table).GetObject("nope"));
        var remoteError = await Assert.ThrowsAsync<DtException>(() => remote.GetTable(table).GetObject("nope"));
        Assert.Equal(localError.Message, remoteError.Message);

        Assert.True(await remote.GetTable(table).RemoveObjectByValue(Json("\"two\"")));
        Assert.False(await local.GetTable(table).RemoveObjectByValue(Json("\"two\"")));
        Assert.True(await remote.GetTable(table).RemoveObject(more[0]));
        Assert.False(await remote.GetTable(table).RemoveObject(more[0]));
        Assert.Equal(await local.GetTable(table).GetSummary(), await remote.GetTable(table).GetSummary());

        var info = await remote.GetNode().GetInfo();
        var localInfo = await local.GetNode().GetInfo();
        Assert.Equal((localInfo.NodeId, localInfo.IsMaster, localInfo.Network, localInfo.StartedAt), (info.NodeId, info.IsMaster, info.Network, info.StartedAt));
        Assert.Equal(await local.GetNode().GetTables(), await remote.GetNode().GetTables());
    }

    [Fact]
    public async Task Messages_sent_through_the_api_reach_remote_subscribers()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true);
        await using var silo = await InProcessSilo.StartAsync(node);
        using var client = silo.Client();
        int before = node.Events.SubscriberCount;
        using var cts = Eventually.CancelAfter();
        await using var messages = client.GetMessageStream().Subscribe(cts.Token).GetAsyncEnumerator(cts.Token);
        var next = messages.MoveNextAsync().AsTask();
        await Eventually.Until(() => node.Events.SubscriberCount > before, "the message subscription is registered", polling: Polling.Node);

        // A table change in between must not reach a message subscriber.
        await node.GetTable("noise").AddObject(Json("1"));
        string id = await client.GetMessageStream().Send(Json("""{"hello":"world"}"""));
        Assert.True(await next);
        Assert.Equal(id, messages.Current.Id);
        Assert.Equal(node.NodeId.ToString(), messages.Current.Origin);
        Assert.Equal("world", messages.Current.Payload.GetProperty("hello").GetString());
    }

    [Fact]
    public async Task Raw_server_sent_events_carry_ids_a_ready_marker_keep_alives_and_resume_from_Last_Event_ID()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true);
        await using var silo = await InProcessSilo.StartAsync(node, new Dt.Silo.SiloOptions { EventKeepAlive = TimeSpan.FromMilliseconds(200) });
        using var http = new HttpClient();
        string existing = await node.GetTable("sse").AddObject(Json("""{"n":0}"""));

        using var response = await http.GetAsync(new Uri(silo.Url, "/v1/events?table=sse&existing=true"), HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        var lines = new List<string>();
        async Task<string> UntilAsync(Func<string, bool> match)
        {
            using var cts = Eventually.CancelAfter(TimeSpan.FromSeconds(10));
            while (await reader.ReadLineAsync(cts.Token) is { } line)
            {
                lines.Add(line);
                if (match(line)) return line;
            }
            throw new EndOfStreamException(string.Join('\n', lines));
        }

        string snapshot = await UntilAsync(l => l.StartsWith("data: ", StringComparison.Ordinal));
        Assert.Contains(existing, snapshot);
        Assert.Equal("event: dt-ready", await UntilAsync(l => l.StartsWith("event: ", StringComparison.Ordinal)));
        long readyId = long.Parse((await UntilAsync(l => l.StartsWith("id: ", StringComparison.Ordinal)))[4..]);

        string added = await node.GetTable("sse").AddObject(Json("""{"n":1}"""));
        long id = long.Parse((await UntilAsync(l => l.StartsWith("id: ", StringComparison.Ordinal)))[4..]);
        Assert.True(id > readyId);
        var e = JsonSerializer.Deserialize((await UntilAsync(l => l.StartsWith("data: ", StringComparison.Ordinal)))[6..], DtJsonContext.Default.DtEvent)!;
        Assert.Equal((id, DtEventTypes.ObjectAdded, added), (e.Id, e.Type, e.Hash));
        await UntilAsync(l => l == ": keep-alive");

        // What a browser's EventSource sends when it reconnects: the last id in a header.
        using var again = new HttpRequestMessage(HttpMethod.Get, new Uri(silo.Url, "/v1/events?table=sse"));
        again.Headers.Add("Last-Event-ID", readyId.ToString());
        using var resumed = await http.SendAsync(again, HttpCompletionOption.ResponseHeadersRead, ct);
        using var reader2 = new StreamReader(await resumed.Content.ReadAsStreamAsync(ct));
        using var cts2 = Eventually.CancelAfter(TimeSpan.FromSeconds(10));
        string? data;
        while ((data = await reader2.ReadLineAsync(cts2.Token)) is not null && !(data.StartsWith("data: ", StringComparison.Ordinal) && data.Contains(added))) { }
        Assert.NotNull(data);
    }

    [Fact]
    public async Task A_subscriber_too_slow_for_the_node_is_ended_and_resumes_without_missing_an_event()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true, configure: o => o.SubscriberQueueSize = 16);
        await using var silo = await InProcessSilo.StartAsync(node);
        await using var proxy = new TcpProxy(silo.Url);
        var log = new CapturingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(log));
        using var client = new DtClient(new DtClientOptions { BaseAddress = proxy.Url, LoggerFactory = loggers });
        int before = node.Events.SubscriberCount;
        using var cts = Eventually.CancelAfter();
        await using var events = client.GetTable("burst").Subscribe(new EventSubscription(), cts.Token).GetAsyncEnumerator(cts.Token);
        var next = events.MoveNextAsync().AsTask();
        await Eventually.Until(() => node.Events.SubscriberCount > before, "the subscription is registered", polling: Polling.Node);

        // The client stops reading; 300 events of 64 KiB fill the socket buffers, then the subscriber's queue of 16.
        proxy.HoldResponses = true;
        string pad = new('x', 64 * 1024);
        var hashes = new List<string>();
        for (int i = 0; i < 3; i++)
            hashes.AddRange(await node.GetTable("burst").AddObjects(Enumerable.Range(i * 100, 100).Select(n => Json($$"""{"i":{{n}},"pad":"{{pad}}"}""")).ToList()));
        proxy.HoldResponses = false;
        var received = new List<DtEvent>();
        Assert.True(await next);
        received.Add(events.Current);
        while (received.Count < 300 && await events.MoveNextAsync()) received.Add(events.Current);
        Assert.Equal(hashes, received.Select(e => e.Hash));
        Assert.Equal(received.Select(e => e.Id).Order(), received.Select(e => e.Id));
        Assert.Contains(log.Messages, m => m.Contains("dropped (event subscriber fell more than 16 events behind", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stream_resumed_against_a_restarted_node_starts_over_with_its_current_objects()
    {
        await using var cluster = new TestCluster();
        var store = new NodeStore();
        var first = await cluster.Start(master: true, store: store, masterKey: 0);
        var silo = await InProcessSilo.StartAsync(first);
        await using var proxy = new TcpProxy(silo.Url);
        using var client = silo.Client(via: proxy.Url);
        using var cts = Eventually.CancelAfter();
        await using var events = client.GetTable("r").Subscribe(new EventSubscription(IncludeExisting: true), cts.Token).GetAsyncEnumerator(cts.Token);
        string a = await first.GetTable("r").AddObject(Json("\"a\""));
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(a, events.Current.Hash);
        for (int i = 0; i < 5; i++) await first.GetTable("r").AddObject(Json($"{i}")); // this run's ids go past the next run's

        // The node restarts (same store, new node id, event ids from 1 again) behind the same address.
        await silo.DisposeAsync();
        await cluster.Stop(first);
        var second = await cluster.Start(master: true, store: store, masterKey: 0);
        await using var silo2 = await InProcessSilo.StartAsync(second);
        proxy.Upstream = silo2.Url;
        proxy.DropAll();
        string b = await second.GetTable("r").AddObject(Json("\"b\""));

        var after = new List<DtEvent>();
        while (!after.Any(e => e.Hash == b) && await events.MoveNextAsync()) after.Add(events.Current);
        var notice = Assert.Single(after, e => e.Type == DtEventTypes.Error);
        Assert.Contains("restarted", notice.Error);
        Assert.Contains(after, e => e.Type == DtEventTypes.ObjectAdded && e.Hash == a); // the snapshot after the notice
    }
}
