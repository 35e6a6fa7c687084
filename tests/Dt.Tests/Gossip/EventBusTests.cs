using System.Diagnostics;
using Dt.Gossip;
using Dt.Hosting;
using Dt.Tests.Engine;
using Xunit;
using static Dt.Tests.Engine.TestCluster;
using static Dt.Tests.Gossip.GossipKit;

namespace Dt.Tests.Gossip;

[Collection(nameof(GossipCollection))]
public sealed class EventBusTests
{
    [Fact]
    public async Task A_said_event_is_heard_once_by_every_node_matching_the_wildcard_and_not_by_the_sender_unless_it_asks()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var nodes = await cluster.StartTree(6, g);
        for (int i = 1; i < nodes.Length; i++) await WaitLinked(nodes[i], nodes[(i - 1) / 2]);
        // Close two cycles, so every event reaches some nodes over two paths.
        await nodes[5].Overlay.AddCandidateForTests(Address(nodes[3]));
        await nodes[4].Overlay.AddCandidateForTests(Address(nodes[0]));
        await WaitLinked(nodes[5], nodes[3]);
        await WaitLinked(nodes[4], nodes[0]);

        var dns = nodes.Select(n => new Hearer(n, new HearRequest("dns.*"))).ToArray();
        var own = new Hearer(nodes[2], new HearRequest("*", IncludeOwn: true));
        var sw = Stopwatch.StartNew();
        string id = await nodes[2].Grain().Say("dns.update", Json("""{"zone":"example.com","serial":7}"""));
        await nodes[2].Grain().Say("other", Json("1"));
        await Eventually.Until(() => dns.Where((_, i) => i != 2).All(h => h.Heard.Count == 1), "every other node hears dns.update");
        Print($"dns.update heard by 5 nodes after {sw.ElapsedMilliseconds} ms");
        await Eventually.Until(() => own.Heard.Count == 2, "the sender hears its own events when it asks");
        // That no duplicate follows over the cycles later is checked on the driven clock (GossipSimulationTests).
        for (int i = 0; i < nodes.Length; i++)
        {
            var heard = dns[i].Heard;
            if (i == 2) Assert.Empty(heard);
            else
            {
                var e = Assert.Single(heard);
                Assert.Equal((id, "dns.update", nodes[2].Name()), (e.Id, e.Event, e.Origin));
                Assert.Equal(7, e.Data.GetProperty("serial").GetInt32());
            }
        }
        Assert.Equal(["dns.update", "other"], own.Heard.Select(e => e.Event));
        foreach (var h in dns.Append(own)) await h.DisposeAsync();
    }

    [Fact]
    public async Task A_node_that_joins_within_the_duration_hears_the_event_once_and_one_that_joins_after_it_does_not()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var a = await cluster.Start(g);
        var b = await cluster.Start(g, [a]);
        await WaitLinked(b, a);
        await a.Grain().Say("deploy.start", Json("\"v2\""), durationMilliseconds: 1500);
        var sw = Stopwatch.StartNew();

        // Joins within the duration: started unlinked with a listener, then linked.
        var joiner = await cluster.Start(g, configure: o => o.Listen = true);
        await using (var hearer = new Hearer(joiner, new HearRequest("deploy.*")))
        {
            await joiner.Overlay.AddCandidateForTests(Address(b));
            await Eventually.Until(() => hearer.Heard.Count == 1, "the joiner hears the lasting event");
            Assert.Equal("v2", hearer.Heard[0].Data.GetString());
            Assert.True(hearer.Heard[0].ExpiresAt > DateTimeOffset.UtcNow);
            // Another link and another joiner later within the duration do not make it hear the event again.
            await joiner.Overlay.AddCandidateForTests(Address(a));
            await WaitLinked(joiner, a);
            Assert.Single(hearer.Heard); // and for gossip rounds after: GossipSimulationTests
        }
        // A local listener that asks for lasting events gets it at once.
        var lasting = await joiner.Grain().HearOnce(new HearRequest("deploy.*", IncludeActive: true), TestContext.Current.CancellationToken);
        Assert.Equal("deploy.start", lasting.Event);

        // After the duration, a new node never hears it.
        await Eventually.Until(() => new[] { a, b, joiner }.All(n => n.EventBus.Lasting("*").Count == 0), "the event's duration is over everywhere");
        var late = await cluster.Start(g, [b]);
        await WaitLinked(late, b);
        await Eventually.Until(() => late.G().Peers(alive: true).Count == 3, "the late node syncs");
        Assert.Empty(late.Module<EventBusModule>().Lasting("*"));
        await foreach (var e in late.GetNode().SubscribeEvents(new EventSubscription(AfterEventId: 0), TestContext.Current.CancellationToken))
        {
            Assert.NotEqual(GossipEventTypes.Say, e.Type);
            if (e.Id == late.Events.LastId) break;
        }
    }

    [Fact]
    public async Task HearOnce_returns_the_first_matching_event_of_another_node()
    {
        await using var cluster = new TestCluster();
        var g = GossipOptions.ForTests();
        var a = await cluster.Start(g);
        var b = await cluster.Start(g, [a]);
        await WaitLinked(b, a);
        var once = b.Grain().HearOnce(new HearRequest("job.??.done"), TestContext.Current.CancellationToken);
        await Eventually.Until(() => b.Events.SubscriberCount > 0, "the listener is registered");
        await a.Grain().Say("job.1.done", Json("1"));
        await a.Grain().Say("job.42.done", Json("42"));
        var e = await once.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(("job.42.done", 42), (e.Event, e.Data.GetInt32()));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            b.Grain().HearOnce(new HearRequest("never"), new CancellationTokenSource(TimeSpan.FromMilliseconds(100)).Token));
    }
}
