using System.Diagnostics;
using Dt.Gossip;
using Dt.Hosting;
using Xunit;
using static Dt.Tests.Simulation.SimKit;

namespace Dt.Tests.Simulation;

/// <summary>
/// The event bus, node state and membership on the in-memory network with a driven clock: every bound is on the
/// network's time (how many intervals the protocol needs, not how busy the machine is), and every "nothing happens"
/// is an invariant checked at each step of a stretch of that time.
/// </summary>
[Collection(nameof(SimulationCollection))]
public sealed class GossipSimulationTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    // ---- event bus -------------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_said_event_over_an_overlay_with_cycles_is_heard_once_by_every_node_and_by_the_sender_only_when_it_asks()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 31);
        var g = GossipOptions.ForTests();
        var nodes = await sim.StartTree(6, g);
        await sim.RunUntilLinked([.. Enumerable.Range(1, 5).Select(i => (nodes[i], nodes[(i - 1) / 2]))]);
        // Close two cycles, so every event reaches some nodes over two paths.
        await sim.Link(nodes[5], nodes[3]);
        await sim.Link(nodes[4], nodes[0]);

        var dns = nodes.Select(n => new Hearer(n, new HearRequest("dns.*"))).ToArray();
        var own = new Hearer(nodes[2], new HearRequest("*", IncludeOwn: true));
        var saidAt = sim.Elapsed;
        string id = await nodes[2].Grain().Say("dns.update", Json("""{"zone":"example.com","serial":7}"""));
        await nodes[2].Grain().Say("other", Json("1"));
        await sim.RunUntil(() => dns.Where((_, i) => i != 2).All(h => h.Count >= 1), "every other node hears dns.update", TimeSpan.FromSeconds(2));
        Print($"dns.update heard by 5 nodes {(sim.Elapsed - saidAt).TotalMilliseconds:0} ms (driven) after it was said");
        await sim.RunUntil(() => own.Count >= 2, "the sender hears its own events when it asks", TimeSpan.FromSeconds(2));
        // Duplicates over the cycles would show up within a few gossip rounds: at no step of 4 rounds is there one.
        await sim.RunFor(g.GossipInterval * 4, () => dns.Select((h, i) => h.Count == (i == 2 ? 0 : 1)).All(x => x) && own.Count == 2,
            "every node hears dns.update exactly once, the sender never without asking");
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
        Print($"{sim.Elapsed.TotalSeconds:0.00} s driven, {wall.ElapsedMilliseconds} ms wall");
    }

    [Fact]
    public async Task A_node_that_joins_within_the_duration_hears_the_event_once_and_one_that_joins_after_it_never_does()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 32);
        var g = GossipOptions.ForTests();
        var duration = TimeSpan.FromMilliseconds(1500);
        var a = await sim.Start(gossip: g);
        var b = await sim.Start(peers: [a], gossip: g);
        await sim.RunUntilLinked((b, a));
        var saidAt = sim.Time.GetUtcNow();
        await a.Grain().Say("deploy.start", Json("\"v2\""), durationMilliseconds: (long)duration.TotalMilliseconds);

        // Joins within the duration: started unlinked, with a listener, then linked.
        var joiner = await sim.Start(gossip: g);
        await using (var hearer = new Hearer(joiner, new HearRequest("deploy.*")))
        {
            var dialing = joiner.Overlay.AddCandidateForTests(sim.Address(b));
            await sim.RunUntil(() => hearer.Count >= 1, "the joiner hears the lasting event", duration - (sim.Time.GetUtcNow() - saidAt));
            await dialing;
            var heardAfter = sim.Time.GetUtcNow() - saidAt;
            Assert.True(heardAfter < duration, $"heard {heardAfter.TotalMilliseconds:0} ms after it was said");
            var e = Assert.Single(hearer.Heard);
            Assert.Equal("v2", e.Data.GetString());
            Assert.True(e.ExpiresAt > sim.Time.GetUtcNow());
            // The duration is kept, not restarted, on the way to the joiner (on one clock, the expiries agree).
            Assert.InRange((e.ExpiresAt - (saidAt + duration)).TotalMilliseconds, -100, 100);
            // Another link later within the duration does not make it hear the event again: not at any step of 4 gossip rounds.
            await sim.Link(joiner, a);
            await sim.RunFor(g.GossipInterval * 4, () => hearer.Count == 1, "the joiner hears the event once");
            Assert.True(sim.Time.GetUtcNow() - saidAt < duration, "the second link was checked within the duration");
        }
        // A local listener that asks for lasting events gets it at once.
        var lasting = joiner.Grain().HearOnce(new HearRequest("deploy.*", IncludeActive: true), TestContext.Current.CancellationToken);
        await sim.RunUntil(() => lasting.IsCompleted, "the lasting event is handed over at once", TimeSpan.FromMilliseconds(50));
        Assert.Equal("deploy.start", (await lasting).Event);

        // After the duration, a new node never hears it.
        await sim.RunUntil(() => sim.Time.GetUtcNow() - saidAt > duration + TimeSpan.FromMilliseconds(100), "the event's duration is over", duration);
        var late = await sim.Start(gossip: g);
        await using (var hearer = new Hearer(late, new HearRequest("*")))
        {
            var dialing = late.Overlay.AddCandidateForTests(sim.Address(b));
            await sim.RunUntil(() => SimulatedCluster.Linked(late, b) && late.Gossip.Peers(alive: true).Count == 3, "the late node syncs", Limit);
            await dialing;
            await sim.RunFor(g.GossipInterval * 4, () => hearer.Count == 0, "the late node hears nothing");
        }
        Assert.Empty(late.EventBus.Lasting("*"));
        long last = late.Events.LastId;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        if (last > 0)
            await foreach (var x in late.ReadEvents(0, cancellationToken: cts.Token))
            {
                Assert.NotEqual(GossipEventTypes.Say, x.Type);
                if (x.Id >= last) break;
            }
        Print($"{sim.Elapsed.TotalSeconds:0.00} s driven, {wall.ElapsedMilliseconds} ms wall");
    }

    // ---- node state ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_thousand_keys_set_on_one_node_reach_all_ten_nodes_within_a_bound_of_the_network_s_time()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 33);
        var g = GossipOptions.Lan();
        var nodes = await sim.StartTree(10, g);
        await sim.RunUntil(() => AllLive(nodes), "all 10 nodes see each other alive", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));
        var writer = nodes[7]; // a leaf: its keys cross the root to reach the other branch
        var grain = writer.Grain();
        var start = sim.Elapsed;
        for (int i = 0; i < 1000; i++) await grain.Set($"k{i}", Json($$"""{"i":{{i}}}"""));
        // The LAN profile gossips every 200 ms and pushes new writes at once, hop by hop: a few rounds at most.
        var bound = g.GossipInterval * 10;
        await sim.RunUntil(() => nodes.All(n => n.Gossip.Keys(writer.Name()).Count == 1000), "1,000 keys reach all 10 nodes", bound);
        Print($"1,000 keys reached all 10 nodes (tree, LAN profile) in {(sim.Elapsed - start).TotalMilliseconds:0} ms of driven time (bound {bound.TotalMilliseconds:0} ms); {wall.ElapsedMilliseconds} ms wall");
        var far = await nodes[9].Grain().GetRemote(writer.Name(), "k999");
        Assert.Equal(999, far!.Value.GetProperty("i").GetInt32());
        Assert.Equal(1000, far.Version);
        Assert.Equal(1000, (await nodes[9].Grain().GetRemoteKeys(writer.NodeId.ToString())).Count);
    }

    [Fact]
    public async Task A_restarted_node_s_new_writes_win_and_its_previous_life_s_state_never_comes_back()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 34);
        var g = GossipOptions.ForTests();
        var a = await sim.Start(gossip: g);
        var b = await sim.Start(peers: [a], gossip: g);
        var named = g.Clone();
        named.NodeName = "r";
        var r = await sim.Start(peers: [a], gossip: named);
        await r.Grain().Set("k0", Json("\"old\""));
        for (int i = 1; i <= 20; i++) await r.Grain().Set($"k{i}", Json($"{i}"));
        await sim.RunUntil(() => b.Gossip.Keys("r").Count == 21 && a.Gossip.Keys("r").Count == 21, "the first life's keys reach a and b", Limit);
        long oldGeneration = r.Gossip.Generation;
        await sim.Stop(r);

        var again = await sim.Start(peers: [a], gossip: named, host: sim.HostOf(r));
        await again.Grain().Set("k0", Json("\"NEW\""));
        await again.Grain().Set("fresh", Json("true"));
        bool NewLifeOnly(DtNode n) => n.Gossip.Get("r", "k0")?.Value.GetString() == "NEW" && n.Gossip.Get("r", "fresh") is not null && n.Gossip.Keys("r").Count == 2;
        await sim.RunUntil(() => NewLifeOnly(a) && NewLifeOnly(b), "the new life's writes replace the old life's state", Limit);
        Assert.True(again.Gossip.Generation > oldGeneration);
        // The restarted node never takes its previous life's state back, and peers never bring it back: checked at
        // every step of 5 rounds of two gossip intervals.
        await sim.RunUntil(() => again.Gossip.Peers(alive: true).Count == 2, "the restarted node sees both peers", Limit);
        await sim.RunFor(g.GossipInterval * 2 * 5, () =>
                again.Gossip.Get(null, "k0")?.Value.GetString() == "NEW" && again.Gossip.Keys(null).Count == 2 &&
                b.Gossip.Keys("r").SequenceEqual(["fresh", "k0"]) && a.Gossip.Keys("r").SequenceEqual(["fresh", "k0"]),
            "only the new life's state exists");
        Assert.Equal("NEW", (await again.Grain().Get("k0"))!.Value.GetString());
        Assert.Equal(["fresh", "k0"], await b.Grain().GetRemoteKeys("r"));
        var peer = (await b.Grain().AllPeers()).Single(p => p.Name == "r");
        Assert.Equal(PeerStatus.Alive, peer.Status);
        Assert.Equal(again.Gossip.Generation, peer.Generation);
        Print($"{sim.Elapsed.TotalSeconds:0.00} s driven, {wall.ElapsedMilliseconds} ms wall");
    }

    [Fact]
    public async Task A_ttl_key_lives_its_ttl_and_expires_on_every_node_within_a_bound_and_a_joiner_gets_what_is_left_of_it()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 35);
        var g = GossipOptions.ForTests();
        var ttl = TimeSpan.FromMilliseconds(800);
        var nodes = await sim.StartTree(4, g);
        await sim.RunUntil(() => AllLive(nodes), "all 4 nodes see each other alive", Limit);
        string owner = nodes[1].Name();
        var expired = Collect(nodes[3].Grain().Watch(new StateWatch("lease.*"), TestContext.Current.CancellationToken), e => e.Type == GossipEventTypes.KeyExpired);
        var setAt = sim.Time.GetUtcNow();
        await nodes[1].Grain().Set("lease.a", Json("1"), ttlMilliseconds: (long)ttl.TotalMilliseconds);
        await nodes[1].Grain().Set("stay", Json("2"));
        await sim.RunUntil(() => nodes.All(n => n.Gossip.Get(owner, "lease.a") is not null), "the lease reaches every node", ttl / 2);
        var remote = nodes[3].Gossip.Get(owner, "lease.a")!;
        Assert.NotNull(remote.ExpiresAt);
        Assert.InRange((remote.ExpiresAt!.Value - (setAt + ttl)).TotalMilliseconds, -50, 50);
        // A node joining while the key lives gets what is left of its TTL, not a new one.
        var joiner = await sim.Start(peers: [nodes[2]], gossip: g);
        await sim.RunUntil(() => joiner.Gossip.Get(owner, "lease.a") is not null, "the joiner gets the lease", ttl - (sim.Time.GetUtcNow() - setAt));
        var atJoiner = joiner.Gossip.Get(owner, "lease.a")!;
        Assert.InRange((atJoiner.ExpiresAt!.Value - remote.ExpiresAt!.Value).TotalMilliseconds, -100, 300);
        var all = nodes.Append(joiner).ToList();
        // Not before its TTL: every node holds the lease at every step until then...
        await sim.RunFor(setAt + ttl - TimeSpan.FromMilliseconds(20) - sim.Time.GetUtcNow(), () => all.All(n => n.Gossip.Get(owner, "lease.a") is not null),
            "the lease lives on every node until its TTL");
        // ...and gone from every node soon after (each expires its copy on its own clock; one detector tick late at most, plus a margin).
        var bound = ttl + TimeSpan.FromMilliseconds(250);
        await sim.RunUntil(() => all.All(n => n.Gossip.Get(owner, "lease.a") is null), "the lease expires everywhere", setAt + bound - sim.Time.GetUtcNow());
        Print($"expired everywhere {(sim.Time.GetUtcNow() - setAt).TotalMilliseconds:0} ms (driven) after a set with an {ttl.TotalMilliseconds:0} ms TTL; {wall.ElapsedMilliseconds} ms wall");
        await sim.RunUntil(() => expired.IsCompleted, "the watcher sees the key expire", TimeSpan.FromSeconds(1));
        var e = await expired;
        Assert.Equal(("lease.a", owner), (e.Key, e.Peer));
        Assert.All(nodes, n => Assert.NotNull(n.Gossip.Get(owner, "stay")));
        // A node joining after the expiry never sees the key.
        var late = await sim.Start(peers: [nodes[3]], gossip: g);
        await sim.RunUntil(() => late.Gossip.Get(owner, "stay") is not null, "the late joiner syncs", Limit);
        await sim.RunFor(g.GossipInterval * 4, () => late.Gossip.Get(owner, "lease.a") is null, "the late joiner never holds the expired key");
    }

    // ---- membership ------------------------------------------------------------------------------------------------

    /// <summary>Kills <paramref name="victim"/> and returns, per surviving node, the driven time until it declared it dead.</summary>
    private static async Task<TimeSpan[]> KillAndTime(SimulatedCluster sim, DtNode victim, DtNode[] others, TimeSpan limit, TimeSpan? step = null)
    {
        string name = victim.Name();
        var detected = new TimeSpan?[others.Length];
        var killedAt = sim.Time.GetUtcNow();
        var stopping = sim.Kill(victim);
        await sim.RunUntil(() =>
        {
            for (int i = 0; i < others.Length; i++)
                if (detected[i] is null && others[i].Gossip.Peers(alive: false).Any(p => p.Name == name)) detected[i] = sim.Time.GetUtcNow() - killedAt;
            return detected.All(d => d is not null);
        }, "every node declares the killed node dead", limit, step);
        await stopping;
        return [.. detected.Select(d => d!.Value)];
    }

    private static string Ms(IEnumerable<TimeSpan> times) => string.Join(", ", times.Select(t => $"{t.TotalMilliseconds:0}"));

    [Fact]
    public async Task A_killed_node_is_declared_dead_by_all_within_a_second_of_the_network_s_time_in_the_test_profile()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 36);
        var g = GossipOptions.ForTests();
        var nodes = await sim.StartTree(7, g);
        var changes = Collect(nodes[0].Grain().WatchPeers(TestContext.Current.CancellationToken), c => c.Type == GossipEventTypes.PeerDown);
        await sim.RunUntil(() => AllLive(nodes), "all 7 nodes see each other alive", Limit);
        var victim = nodes[6]; // a leaf, two hops from the nearest other branch
        var others = nodes[..6];
        // The bound is the limit: a node that takes longer fails the run.
        var times = await KillAndTime(sim, victim, others, TimeSpan.FromSeconds(1));
        Print($"test profile: killed node declared dead after {Ms(times)} ms driven (max {times.Max().TotalMilliseconds:0} ms); {wall.ElapsedMilliseconds} ms wall");
        // Not faster than the detector allows: a heartbeat interval plus the acceptable pause must pass first.
        Assert.True(times.Min() > g.HeartbeatInterval + g.AcceptableHeartbeatPause, $"declared dead after {times.Min().TotalMilliseconds:0} ms, sooner than the test profile allows");
        await sim.RunUntil(() => changes.IsCompleted, "node 0 reports the peer down", TimeSpan.FromSeconds(1));
        Assert.Equal(victim.Name(), (await changes).Peer);
        Assert.All(others, n => Assert.Equal(1, n.Gossip.DeadVerdicts));
        Assert.All(others, n => Assert.Equal(5, n.Gossip.Peers(alive: true).Count));
        Assert.Equal(victim.Name(), Assert.Single(await others[3].Grain().DeadPeers()).Name);
        Assert.Equal(6, (await others[3].Grain().AllPeers()).Count);
    }

    [Fact]
    public async Task The_lan_profile_declares_a_killed_node_dead_within_five_seconds_of_the_network_s_time()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 37);
        var g = GossipOptions.Lan();
        var nodes = await sim.StartTree(5, g);
        await sim.RunUntil(() => AllLive(nodes), "all 5 nodes see each other alive", Limit, TimeSpan.FromMilliseconds(20));
        // Let the detectors sample a few LAN heartbeats (500 ms apart) first.
        await sim.RunUntil(() => nodes.All(n => n.Gossip.Peers().All(p => p.Heartbeat >= 3)), "three heartbeats everywhere", Limit, TimeSpan.FromMilliseconds(20));
        var times = await KillAndTime(sim, nodes[4], nodes[..4], TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20));
        Print($"LAN profile: killed node declared dead after {Ms(times)} ms driven (max {times.Max().TotalMilliseconds:0} ms); {wall.ElapsedMilliseconds} ms wall");
        Assert.True(times.Min() > TimeSpan.FromSeconds(1), $"detection after {times.Min().TotalMilliseconds:0} ms is faster than the LAN profile should be");
    }

    [Fact]
    public async Task A_dead_peer_is_forgotten_after_forget_dead_after_and_not_brought_back_by_stale_gossip()
    {
        var wall = Stopwatch.StartNew();
        await using var sim = new SimulatedCluster(seed: 38);
        var g = GossipOptions.ForTests();
        g.ForgetDeadAfter = TimeSpan.FromSeconds(2);
        g.StateTombstoneRetention = TimeSpan.FromSeconds(5);
        var nodes = await sim.StartTree(4, g);
        await nodes[3].Grain().Set("k", Json("1"));
        await sim.RunUntil(() => AllLive(nodes), "all 4 nodes see each other alive", Limit);
        await sim.RunUntil(() => nodes.All(n => n.Gossip.Get(nodes[3].Name(), "k") is not null), "the key spreads", Limit);
        string name = nodes[3].Name();
        var forgotten = Collect(nodes[1].Grain().WatchPeers(TestContext.Current.CancellationToken), c => c.Type == GossipEventTypes.PeerForgotten);
        var others = nodes[..3];
        var killedAt = sim.Time.GetUtcNow();
        await sim.Kill(nodes[3]);
        await sim.RunUntil(() => others.All(n => n.Gossip.Peers(alive: false).Any(p => p.Name == name)), "the node is declared dead", TimeSpan.FromSeconds(1));
        var dead = sim.Time.GetUtcNow() - killedAt;
        // Counted from the kill; the last heartbeat was up to an interval earlier (and reached the far nodes a little later).
        var earliest = g.ForgetDeadAfter - g.HeartbeatInterval * 2;
        await sim.RunFor(killedAt + earliest - sim.Time.GetUtcNow(), () => others.All(n => n.Gossip.Peers().Any(p => p.Name == name)),
            "the dead node is remembered until ForgetDeadAfter");
        await sim.RunUntil(() => others.All(n => n.Gossip.Peers().All(p => p.Name != name)), "the dead node is forgotten everywhere",
            killedAt + g.ForgetDeadAfter + TimeSpan.FromMilliseconds(500) - sim.Time.GetUtcNow());
        Print($"declared dead after {dead.TotalMilliseconds:0} ms, forgotten everywhere after {(sim.Time.GetUtcNow() - killedAt).TotalMilliseconds:0} ms driven (ForgetDeadAfter 2 s); {wall.ElapsedMilliseconds} ms wall");
        await sim.RunUntil(() => forgotten.IsCompleted, "node 1 reports the peer forgotten", TimeSpan.FromSeconds(1));
        Assert.Equal(name, (await forgotten).Peer);
        Assert.Empty(await others[0].Grain().GetRemoteKeys(name));
        // It stays forgotten: no node relearns it from another's stale digest, at any step of twice ForgetDeadAfter.
        await sim.RunFor(g.ForgetDeadAfter * 2, () => others.All(n => n.Gossip.Peers().All(p => p.Name != name) && n.Gossip.Keys(name).Count == 0),
            "the forgotten node stays forgotten", TimeSpan.FromMilliseconds(20));
    }
}
