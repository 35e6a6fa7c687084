using Dt.Hosting;
using Dt.Replication;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

public sealed class EventTests
{
    private static async Task<List<DtEvent>> Take(IAsyncEnumerable<DtEvent> events, int count)
    {
        var list = new List<DtEvent>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(Deadline);
        await foreach (var e in events.WithCancellation(cts.Token))
        {
            list.Add(e);
            if (list.Count == count) break;
        }
        return list;
    }

    [Fact]
    public async Task A_restarted_node_reports_started_then_an_object_added_for_each_object_it_holds()
    {
        await using var cluster = new TestCluster();
        var store = new NodeStore();
        var master = await cluster.Start(master: true, store: store);
        var hashes = await master.GetTable("a").AddObjects([Json("1"), Json("\"two\""), Json("[3]")]);
        await cluster.Stop(master);

        var again = await cluster.Start(master: true, store: store);
        var events = await Take(again.GetNode().SubscribeEvents(new EventSubscription(AfterEventId: 0)), 4);
        Assert.Equal(DtEventTypes.Started, events[0].Type);
        Assert.All(events.Skip(1), e => Assert.Equal(DtEventTypes.ObjectAdded, e.Type));
        Assert.Equal(hashes.Order(), events.Skip(1).Select(e => e.Hash!).Order());
        Assert.Equal(events.Select(e => e.Id), events.Select(e => e.Id).Order());
    }

    [Fact]
    public async Task A_restarted_node_with_more_objects_than_its_event_buffer_numbers_an_event_for_each_and_keeps_the_newest()
    {
        await using var cluster = new TestCluster();
        var store = new NodeStore();
        var master = await cluster.Start(master: true, store: store);
        var held = (await master.GetTable("a").AddObjects([.. Enumerable.Range(0, 150).Select(i => Json($"{i}"))]))
            .Concat(await master.GetTable("b").AddObjects([.. Enumerable.Range(0, 100).Select(i => Json($"\"{i}\""))])).ToHashSet();
        await cluster.Stop(master);

        var again = await cluster.Start(master: true, store: store, configure: o => o.EventBufferSize = 100);
        Assert.Equal(1 + 250, again.LastEventId); // started, then one object_added per held object
        var kept = await Take(again.GetNode().SubscribeEvents(new EventSubscription(AfterEventId: again.LastEventId - 100)), 100);
        Assert.All(kept, e => Assert.Equal(DtEventTypes.ObjectAdded, e.Type));
        Assert.Equal(100, kept.Select(e => e.Hash!).Distinct().Count(h => held.Contains(h)));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => again.LastEventId - 99 + i), kept.Select(e => e.Id));
        // Resuming from before the buffer: told of the gap, then the same newest events.
        var fromStart = await Take(again.GetNode().SubscribeEvents(new EventSubscription(AfterEventId: 0)), 2);
        Assert.Equal(DtEventTypes.Error, fromStart[0].Type);
        Assert.Equal(kept[0].Id, fromStart[1].Id);
    }

    [Fact]
    public async Task A_subscriber_resumes_after_the_last_id_it_saw_and_can_filter_by_table()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var a = master.GetTable("a");
        var b = master.GetTable("b");
        string a1 = await a.AddObject(Json("""{"n":1}"""));
        await b.AddObject(Json("""{"n":1}"""));
        var seen = await Take(master.GetNode().SubscribeEvents(new EventSubscription(Table: "a", AfterEventId: 0)), 1);
        Assert.Equal(a1, seen[0].Hash);
        long last = seen[0].Id;

        // While "disconnected": more changes in both tables.
        await b.AddObject(Json("""{"n":2}"""));
        string a2 = await a.AddObject(Json("""{"n":2}"""));
        Assert.True(await a.RemoveObject(a1));
        var resumed = await Take(a.Subscribe(new EventSubscription(AfterEventId: last)), 2);
        Assert.Equal((DtEventTypes.ObjectAdded, a2), (resumed[0].Type, resumed[0].Hash));
        Assert.Equal((DtEventTypes.ObjectRemoved, a1), (resumed[1].Type, resumed[1].Hash));
        Assert.Equal(1, resumed[1].Value!.Value.GetProperty("n").GetInt32());
        Assert.All(resumed, e => Assert.Equal("a", e.Table));
    }

    [Fact]
    public async Task Include_existing_lists_held_objects_before_live_events()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var t = master.GetTable("x");
        var held = await t.AddObjects([Json("""{"k":1}"""), Json("""{"k":2}""")]);
        var stream = t.Subscribe(new EventSubscription(IncludeExisting: true));
        var reading = Take(stream, 3);
        await Eventually.Until(() => master.Events.SubscriberCount > 0, "the subscription registers");
        string later = await t.AddObject(Json("""{"k":3}"""));
        var events = await reading;
        Assert.Equal(held.Order(), events.Take(2).Select(e => e.Hash!).Order());
        Assert.All(events.Take(2), e => Assert.Equal(0, e.Id));
        Assert.Equal(later, events[2].Hash);
    }

    [Fact]
    public async Task Include_existing_on_a_quiet_table_lists_its_objects_at_once()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var held = await master.GetTable("quiet").AddObjects([Json("1"), Json("2"), Json("3")]);
        var events = await Take(master.GetTable("quiet").Subscribe(new EventSubscription(IncludeExisting: true)), 3);
        Assert.Equal(held.Order(), events.Select(e => e.Hash!).Order());
    }

    [Fact]
    public async Task A_message_subscription_sees_only_messages()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var messages = master.GetMessageStream().Subscribe(TestContext.Current.CancellationToken).GetAsyncEnumerator(TestContext.Current.CancellationToken);
        var next = messages.MoveNextAsync().AsTask();
        await Eventually.Until(() => master.Events.SubscriberCount > 0, "the subscription registers");
        await master.GetTable().AddObjects([.. Enumerable.Range(0, 50).Select(i => Json($$"""{"i":{{i}}}"""))]);
        string id = await master.GetMessageStream().Send(Json("""{"hello":1}"""));
        Assert.True(await next.WaitAsync(Deadline, TestContext.Current.CancellationToken));
        Assert.Equal(id, messages.Current.Id);
        await messages.DisposeAsync();
    }

    [Fact]
    public async Task A_subscriber_asking_for_events_no_longer_held_is_told_of_the_gap()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, configure: o => o.EventBufferSize = 4);
        var t = master.GetTable();
        for (int i = 0; i < 10; i++) await t.AddObject(Json($$"""{"i":{{i}}}"""));
        var events = await Take(master.GetNode().SubscribeEvents(new EventSubscription(AfterEventId: 1)), 2);
        Assert.Equal(DtEventTypes.Error, events[0].Type);
        Assert.Contains("no longer held", events[0].Error);
        Assert.Equal(DtEventTypes.ObjectAdded, events[1].Type);
    }

    [Fact]
    public async Task Message_payloads_in_reused_ring_slots_reach_subscribers_intact_however_far_behind()
    {
        var ct = TestContext.Current.CancellationToken;
        var hub = new Dt.Events.EventHub(bufferSize: 4, subscriberQueueSize: 100, TimeProvider.System);
        static byte[] Payload(int i) => System.Text.Encoding.UTF8.GetBytes($$"""{"i":{{i}},"pad":"{{new string('x', i * 10)}}"}""");
        static int I(DtEvent e) => e.Value!.Value.GetProperty("i").GetInt32();

        // Read as they come: each event shows its own payload although slots (and their arrays) are reused.
        await using (var feed = hub.Open(null, null))
        {
            var reading = feed.ReadAllAsync(ct).GetAsyncEnumerator(ct);
            for (int i = 1; i <= 12; i++)
            {
                hub.Publish(DtEventTypes.MessageReceived, Payload(i), "n1", Guid.NewGuid());
                Assert.True(await reading.MoveNextAsync());
                Assert.Equal(i, I(reading.Current));
                Assert.Equal(i * 10, reading.Current.Value!.Value.GetProperty("pad").GetString()!.Length);
            }
            await reading.DisposeAsync();
        }

        // A subscriber many ring lengths behind: its queued events' slots hold newer payloads by now, yet each queued
        // event kept its own bytes.
        long before = hub.LastId;
        await using (var slow = hub.Open(null, null))
        {
            for (int i = 1; i <= 40; i++) hub.Publish(DtEventTypes.MessageReceived, Payload(i), "n1");
            var got = await Take(slow.ReadAllAsync(ct), 40);
            Assert.Equal(Enumerable.Range(1, 40), got.Select(I));
            Assert.Equal(Enumerable.Range(1, 40).Select(i => before + i), got.Select(e => e.Id));
        }

        // A resume: the gap, then the four still held, each with its own payload, though more are published meanwhile.
        await using var resumed = hub.Open(null, before);
        for (int i = 41; i <= 60; i++) hub.Publish(DtEventTypes.MessageReceived, Payload(i), "n1");
        var events = await Take(resumed.ReadAllAsync(ct), 25);
        Assert.Equal(DtEventTypes.Error, events[0].Type);
        Assert.Equal(Enumerable.Range(37, 24), events.Skip(1).Select(I));

        // Over the size a slot keeps, a payload gets its own array and survives its slot's reuse by a smaller one.
        var large = System.Text.Encoding.UTF8.GetBytes($$"""{"big":"{{new string('y', Dt.Events.EventHub.KeptSlotBytes)}}"}""");
        await using var late = hub.Open(null, hub.LastId);
        hub.Publish(DtEventTypes.MessageReceived, large, "n1");
        var big = await Take(late.ReadAllAsync(ct), 1);
        Assert.Equal(Dt.Events.EventHub.KeptSlotBytes, big[0].Value!.Value.GetProperty("big").GetString()!.Length);
    }
}
