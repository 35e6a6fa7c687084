using System.Text.Json;
using Dt.Tests.Silo;
using Xunit;

namespace Dt.Tests.Orleans;

/// <summary>One TestingHost cluster of three silos, each its own Dt node joined over the TCP overlay (Primary is the
/// master), shared by the tests of this class.</summary>
public sealed class OrleansClusterFixture : IAsyncLifetime
{
    public DtClusterKit Kit { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Kit = await DtClusterKit.StartAsync(3);
        // Every node linked to the master before the tests start.
        await Eventually.Until(() => Kit.SiloNames.All(n => n == DtClusterKit.Master || Kit.Node(n).Overlay.Links.Count > 0), "every node links to the master", polling: Polling.Node);
    }

    public async ValueTask DisposeAsync() => await Kit.DisposeAsync();
}

public sealed class OrleansClusterTests(OrleansClusterFixture fixture) : IClassFixture<OrleansClusterFixture>
{
    private DtClusterKit Kit => fixture.Kit;

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Fact]
    public async Task An_add_through_the_master_silo_is_seen_through_every_silo_with_equal_digests()
    {
        var value = Json("""{"name":"www","ttl":300,"a":["192.0.2.10","192.0.2.11"],"note":"café ✓","deep":{"x":1.5e3,"n":null}}""");
        var hashes = await Kit.Dt.OnNode(DtClusterKit.Master).GetTable("orleans-a").AddObjects([value, Json("42"), Json("\"text\"")]);
        Assert.Equal(3, hashes.Count);

        var master = await Kit.Dt.OnNode(DtClusterKit.Master).GetTable("orleans-a").GetSummary();
        await Eventually.Until(async () =>
        {
            foreach (var silo in Kit.SiloNames)
            {
                var s = await Kit.Dt.OnNode(silo).GetTable("orleans-a").GetSummary();
                if (s.Count != 3 || s.Digest != master.Digest) return false;
            }
            return true;
        }, "every silo's node holds the three objects with the master's digest", polling: Polling.Node);

        // The JSON crosses Orleans unchanged (canonical form, hence the same hash).
        var record = await Kit.Dt.OnNode(Kit.SiloNames[^1]).GetTable("orleans-a").GetObject(hashes[0]);
        Assert.NotNull(record);
        Assert.Equal(hashes[0], record.Hash);
        Assert.Equal("café ✓", record.Value.GetProperty("note").GetString());
        Assert.Equal(JsonValueKind.Null, record.Value.GetProperty("deep").GetProperty("n").ValueKind);
    }

    [Fact]
    public async Task A_write_that_names_no_node_reaches_the_master_from_the_cluster_client()
    {
        string hash = await Kit.Dt.GetTable("orleans-b").AddObject(Json("""{"via":"client"}"""));
        var atMaster = await Kit.Dt.OnNode(DtClusterKit.Master).GetTable("orleans-b").GetObject(hash);
        Assert.NotNull(atMaster);
        Assert.True(await Kit.Dt.GetTable("orleans-b").RemoveObject(hash));
        Assert.Null(await Kit.Dt.OnNode(DtClusterKit.Master).GetTable("orleans-b").GetObject(hash));
    }

    [Fact]
    public async Task Refusals_arrive_as_DtException_with_their_code()
    {
        var secondary = Kit.SiloNames.First(n => n != DtClusterKit.Master);
        var notMaster = await Assert.ThrowsAsync<DtException>(() => Kit.Dt.OnNode(secondary).GetTable("orleans-c").AddObject(Json("1")));
        Assert.Equal(DtErrorCodes.NotMaster, notMaster.Code);
        Assert.Contains("Dt:Master", notMaster.Message);

        // A bad table name is refused by the grain's method, not wrapped as a failed activation.
        var badName = await Assert.ThrowsAsync<DtException>(() => Kit.Dt.OnNode(DtClusterKit.Master).GetTable("no spaces").GetSummary());
        Assert.Equal(DtErrorCodes.InvalidArgument, badName.Code);
        Assert.Contains("no spaces", badName.Message);

        var badHash = await Assert.ThrowsAsync<DtException>(() => Kit.Dt.OnNode(DtClusterKit.Master).GetTable("orleans-c").GetObject("xyz"));
        Assert.Equal(DtErrorCodes.InvalidArgument, badHash.Code);

        // A node that is not running fails at once, naming the nodes that are.
        var started = DateTime.UtcNow;
        var missing = await Assert.ThrowsAsync<DtException>(() => Kit.Dt.OnNode("nowhere").GetNode().GetInfo());
        Assert.Equal(DtErrorCodes.Unavailable, missing.Code);
        Assert.Contains("nowhere", missing.Message);
        Assert.Contains(DtClusterKit.Master, missing.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "a missing node is reported at once, not after a time-out");
    }

    [Fact]
    public async Task Events_stream_to_the_client_and_resume_after_a_cancel_by_event_id()
    {
        var reader = Kit.SiloNames.First(n => n != DtClusterKit.Master);
        var writer = Kit.Dt.OnNode(DtClusterKit.Master).GetTable("orleans-d");
        await writer.AddObject(Json("""{"n":0}""")); // existing before the subscription
        var table = Kit.Dt.OnNode(reader).GetTable("orleans-d");
        await Eventually.Until(async () => (await table.GetSummary()).Count == 1, "the reader holds the first object", polling: Polling.Node);

        var node = Kit.Node(reader);
        int feeds = node.Events.SubscriberCount; // the silo's own (its Orleans stream forwarder)
        long last;
        using (var cts = Eventually.CancelAfter())
        {
            var seen = new List<DtEvent>();
            await using var e = table.Subscribe(new EventSubscription(IncludeExisting: true), cts.Token).GetAsyncEnumerator(cts.Token);
            Assert.True(await e.MoveNextAsync()); // the subscription is registered once the first item is asked for
            seen.Add(e.Current);
            Assert.Equal(feeds + 1, node.Events.SubscriberCount);
            for (int i = 1; i <= 3; i++) await writer.AddObject(Json($$"""{"n":{{i}}}"""));
            while (seen.Count < 4 && await e.MoveNextAsync()) seen.Add(e.Current);
            Assert.Equal(4, seen.Count);
            Assert.All(seen, x => Assert.Equal(DtEventTypes.ObjectAdded, x.Type));
            Assert.Equal(0, seen[0].Id); // the existing object, as include-existing delivers it
            Assert.Equal(0, seen[0].Value!.Value.GetProperty("n").GetInt32());
            Assert.Equal([1, 2, 3], seen.Skip(1).Select(x => x.Value!.Value.GetProperty("n").GetInt32()));
            last = seen[^1].Id;
            await cts.CancelAsync(); // releases the node's feed
        }
        await Eventually.Until(() => node.Events.SubscriberCount == feeds, "the cancelled subscription released its feed on the node", polling: Polling.Node);

        for (int i = 4; i <= 5; i++) await writer.AddObject(Json($$"""{"n":{{i}}}"""));
        await Eventually.Until(async () => (await table.GetSummary()).Count == 6, "the reader holds all six", polling: Polling.Node);
        using var again = Eventually.CancelAfter();
        var resumed = new List<DtEvent>();
        await foreach (var ev in table.Subscribe(new EventSubscription(AfterEventId: last), again.Token))
        {
            resumed.Add(ev);
            if (resumed.Count == 2) break;
        }
        Assert.Equal([4, 5], resumed.Select(x => x.Value!.Value.GetProperty("n").GetInt32()));
        Assert.All(resumed, x => Assert.True(x.Id > last));
    }

    [Fact]
    public async Task A_broadcast_message_reaches_an_Orleans_stream_subscriber_grain_on_every_silo_exactly_once()
    {
        foreach (var silo in Kit.SiloNames) await Kit.Cluster.Client.GetGrain<IMessageProbeGrain>(silo).Listen();
        // A change too, which the default stream setting (node events) does not publish.
        await Kit.Dt.OnNode(DtClusterKit.Master).GetTable("orleans-e").AddObject(Json("\"not on the stream\""));
        var sender = Kit.SiloNames[^1];
        string first = await Kit.Dt.OnNode(sender).GetMessageStream().Send(Json("""{"deploy":"web","version":7}"""));
        // A second message after it: once every probe has the second, a duplicate of the first would have come too.
        string second = await Kit.Dt.OnNode(DtClusterKit.Master).GetMessageStream().Send(Json("\"after\""));
        await Eventually.Until(async () =>
        {
            foreach (var silo in Kit.SiloNames)
            {
                var seen = await Kit.Cluster.Client.GetGrain<IMessageProbeGrain>(silo).Seen();
                if (!seen.ContainsKey(first) || !seen.ContainsKey(second)) return false;
            }
            return true;
        }, "every silo's probe grain got both messages", polling: Polling.Node);
        foreach (var silo in Kit.SiloNames)
        {
            var seen = await Kit.Cluster.Client.GetGrain<IMessageProbeGrain>(silo).Seen();
            Assert.Equal(1, seen[first]);
            Assert.Equal(1, seen[second]);
            // The node's events stream carries the messages as events, and no per-object event.
            var probe = Kit.Cluster.Client.GetGrain<IMessageProbeGrain>(silo);
            await Eventually.Until(async () => (await probe.EventTypes()).Count(t => t == DtEventTypes.MessageReceived) >= 2,
                $"{silo}'s event stream carries both messages", polling: Polling.Node);
            Assert.DoesNotContain(DtEventTypes.ObjectAdded, await probe.EventTypes());
        }
    }

    [Fact]
    public async Task A_backend_grain_on_a_non_master_silo_writes_and_reads_a_table_without_naming_a_node()
    {
        var secondary = Kit.SiloNames.First(n => n != DtClusterKit.Master);
        var grain = Kit.Cluster.Client.GetGrain<IInventoryGrain>($"{secondary}/shop");
        Assert.Equal(secondary, await grain.Silo());
        string hash = await grain.Add("lamp");
        Assert.NotNull(await Kit.Dt.OnNode(DtClusterKit.Master).GetTable("inventory").GetObject(hash));
        // Reads answer from the grain's own silo, which converges to the master.
        await Eventually.Until(async () => await grain.Count() == 1, "the backend grain's silo holds the item", polling: Polling.Node);
    }
}
