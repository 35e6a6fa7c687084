using System.Text.Json;
using Dt.Client;
using Dt.Gossip;
using Dt.Hosting;
using Dt.Tests.Engine;
using Xunit;

namespace Dt.Tests.Silo;

/// <summary>Gossip state, the event bus and shared maps through the silo's HTTP API and DtClient (two in-process
/// nodes on the gossip test profile, each behind its own API), and `dt` against a real silo process.</summary>
public sealed class GossipApiTests
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();


    private sealed class Pair : IAsyncDisposable
    {
        public required TestCluster Cluster { get; init; }
        public required InProcessSilo A { get; init; }
        public required InProcessSilo B { get; init; }
        public required DtClient ClientA { get; init; }
        public required DtClient ClientB { get; init; }

        public static async Task<Pair> StartAsync()
        {
            var cluster = new TestCluster();
            var a = await cluster.Start(master: true, gossip: GossipOptions.ForTests());
            var b = await cluster.Start(peers: [a], gossip: GossipOptions.ForTests());
            var siloA = await InProcessSilo.StartAsync(a);
            var siloB = await InProcessSilo.StartAsync(b);
            return new Pair { Cluster = cluster, A = siloA, B = siloB, ClientA = siloA.Client(), ClientB = siloB.Client() };
        }

        public async ValueTask DisposeAsync()
        {
            ClientA.Dispose();
            ClientB.Dispose();
            await A.DisposeAsync();
            await B.DisposeAsync();
            await Cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task State_set_on_one_node_is_read_remotely_on_the_other()
    {
        await using var p = await Pair.StartAsync();
        var a = p.ClientA.GetGossip();
        var b = p.ClientB.GetGossip();
        long version = await a.Set("svc/web", Json("""{"port":8080}"""), ttlMilliseconds: 60_000);
        Assert.True(version > 0);
        var own = await a.Get("svc/web");
        Assert.Equal(8080, own!.Value.GetProperty("port").GetInt32());
        Assert.NotNull(own.ExpiresAt);
        Assert.Null(await a.Get("absent"));
        string nameA = (await a.GetInfo()).Name;
        Assert.Contains(await a.GetAll(), e => e.Key == "svc/web");

        await Eventually.Until(async () => await b.GetRemote(nameA, "svc/web") is not null, "node B holds node A's key", polling: Polling.Node);
        var remote = await b.GetRemote(nameA, "svc/web");
        Assert.Equal(8080, remote!.Value.GetProperty("port").GetInt32());
        Assert.Equal(nameA, remote.Peer);
        Assert.Contains("svc/web", await b.GetRemoteKeys(nameA));
        Assert.Contains(await b.GetRemoteEntries(nameA), e => e.Key == "svc/web");
        await Eventually.Until(async () => (await b.LivePeers()).Any(x => x.Name == nameA && x.Status == PeerStatus.Alive), "node B sees node A alive", polling: Polling.Node);
        Assert.Contains(await b.AllPeers(), x => x.Name == nameA);
        Assert.DoesNotContain(await b.DeadPeers(), x => x.Name == nameA);

        Assert.True(await a.Delete("svc/web"));
        Assert.False(await a.Delete("svc/web"));
        await Eventually.Until(async () => await b.GetRemote(nameA, "svc/web") is null, "the deletion reaches node B", polling: Polling.Node);
        var bad = await Assert.ThrowsAsync<DtException>(() => a.Set("k", Json("1"), ttlMilliseconds: 0));
        Assert.Equal(DtErrorCodes.InvalidArgument, bad.Code);
    }

    [Fact]
    public async Task A_map_set_on_one_node_is_read_on_the_other_which_is_ready()
    {
        await using var p = await Pair.StartAsync();
        const string name = "shared/config:v1";
        var written = await p.ClientA.GetMap(name).Set("color", Json("\"blue\""));
        Assert.Equal("color", written.Key);
        Assert.True(await p.ClientA.GetMap(name).IsReady());

        var b = p.ClientB.GetMap(name);
        await Eventually.Until(async () => await b.Get("color") is not null, "node B holds the map entry", polling: Polling.Node);
        Assert.Equal("blue", (await b.Get("color"))!.Value.GetString());
        using (var cts = Eventually.CancelAfter(TimeSpan.FromSeconds(10))) await b.WaitReady(cts.Token);
        Assert.True(await b.IsReady());
        var info = await b.GetInfo();
        Assert.True(info.Ready);
        Assert.Equal(1, info.Count);
        var listed = new List<MapEntry>();
        await foreach (var e in b.List(TestContext.Current.CancellationToken)) listed.Add(e);
        Assert.Equal(["color"], listed.Select(e => e.Key));

        // A watcher on A sees B's deletion.
        using var watchCts = Eventually.CancelAfter(TimeSpan.FromSeconds(15));
        await using var changes = p.ClientA.GetMap(name).Watch(new MapWatch(IncludeExisting: true), watchCts.Token).GetAsyncEnumerator(watchCts.Token);
        Assert.True(await changes.MoveNextAsync());
        Assert.Equal((GossipEventTypes.MapSet, "color"), (changes.Current.Type, changes.Current.Key));
        Assert.True(await b.Delete("color"));
        while (await changes.MoveNextAsync())
            if (changes.Current is { Type: GossipEventTypes.MapDelete, Key: "color" }) break;
        Assert.Equal("blue", changes.Current.OldValue!.Value.GetString());
        Assert.Null(await b.Get("color"));
        var badName = await Assert.ThrowsAsync<DtException>(() => p.ClientA.GetMap("bad name").Get("k"));
        Assert.Equal(DtErrorCodes.InvalidArgument, badName.Code);
    }

    [Fact]
    public async Task An_event_said_on_one_node_is_heard_on_the_other()
    {
        await using var p = await Pair.StartAsync();
        string nameA = (await p.ClientA.GetGossip().GetInfo()).Name;
        await Eventually.Until(async () => (await p.ClientB.GetGossip().LivePeers()).Any(x => x.Name == nameA), "node B sees node A", polling: Polling.Node);

        using var cts = Eventually.CancelAfter(TimeSpan.FromSeconds(15));
        // IncludeActive: the event is heard even if it is said before the stream is connected.
        var heard = p.ClientB.GetGossip().HearOnce(new HearRequest("deploy.*", IncludeActive: true), cts.Token);
        await p.ClientA.GetGossip().Say("other", Json("0"), 5_000);
        string id = await p.ClientA.GetGossip().Say("deploy.web", Json("""{"v":2}"""), 10_000);
        var e = await heard;
        Assert.Equal((id, "deploy.web", nameA), (e.Id, e.Event, e.Origin));
        Assert.Equal(2, e.Data.GetProperty("v").GetInt32());

        // The sayer does not hear its own events unless it asks to.
        var own = await p.ClientA.GetGossip().HearOnce(new HearRequest("deploy.*", IncludeOwn: true, IncludeActive: true), cts.Token);
        Assert.Equal(id, own.Id);
    }

    [Fact]
    public async Task The_event_stream_carries_gossip_events()
    {
        await using var p = await Pair.StartAsync();
        await p.ClientA.GetGossip().Set("ping", Json("\"pong\""));
        using var cts = Eventually.CancelAfter(TimeSpan.FromSeconds(15));
        // From id 0: every event the node still holds, so the write above is in the stream whenever it connects.
        await foreach (var e in p.ClientA.GetNode().SubscribeEvents(new EventSubscription(AfterEventId: 0), cts.Token))
        {
            if (e.Type != GossipEventTypes.StateSet || e.Value?.GetProperty("key").GetString() != "ping") continue;
            Assert.Equal("pong", e.Value.Value.GetProperty("value").GetString());
            Assert.True(e.Id > 0);
            return;
        }
        Assert.Fail("the stream ended without the state_set event");
    }

    [Fact]
    public async Task The_cli_sets_and_gets_state_and_map_keys_through_a_silo()
    {
        using var dirs = new TempDirs();
        await using var silo = await SiloProcess.StartAsync("gossip", dirs.New("gossip"), "--Dt:Gossip:HeartbeatInterval=00:00:00.2");
        Assert.Equal("1", await Cli.OkAsync(silo.Api, null, "state", "set", "svc.api", """{"port":9780}""", "--ttl", "60000"));
        Assert.Equal("""{"port":9780}""", await Cli.OkAsync(silo.Api, null, "state", "get", "svc.api"));
        var missing = await Cli.RunAsync(silo.Api, null, "state", "get", "nope");
        Assert.True(missing.ExitCode == 1 && missing.Stderr.Contains("no key 'nope'", StringComparison.Ordinal), missing.ToString());
        await Cli.OkAsync(silo.Api, null, "state", "peers", "--live");

        Assert.Contains("\"key\":\"color\"", await Cli.OkAsync(silo.Api, null, "map", "set", "settings", "color", "\"blue\""));
        Assert.Equal("\"blue\"", await Cli.OkAsync(silo.Api, null, "map", "get", "settings", "color"));
        Assert.False(string.IsNullOrEmpty(await Cli.OkAsync(silo.Api, null, "say", "hello", "{}")));
    }
}
