using Dt.Hosting;
using Dt.Protocol;
using Dt.Replication;
using Dt.Security;
using Xunit;
using static Dt.Tests.Engine.TestCluster;
using Dt.Model;

namespace Dt.Tests.Engine;

/// <summary>Nothing lost, nobody forges: masters' signatures, several masters, restarts, key rotation.</summary>
public sealed class TrustTests
{
    private static byte[] ForgedRemoval(string table, ObjectHash target, MasterSigningKey signer, Guid claimedAuthor, bool alter)
    {
        var member = new BatchMember(target, true);
        ulong hlc = HybridLogicalClock.FromTime(DateTimeOffset.UtcNow.AddDays(1)); // "newer" than anything
        var signature = signer.SignDigest(ChangeBatch.Digest("dt", table, claimedAuthor, hlc, [member]));
        if (alter) signature[5] ^= 0x40;
        var batch = new ChangeBatch(claimedAuthor, hlc, [member], signature);
        using var w = new WireWriter();
        BatchCodec.EncodeHeader(w, table, 1);
        BatchCodec.EncodeGroup(w, batch, [new Change(target, batch.VersionOf(member), null, batch, 0)], 0, 1);
        return w.ToArray();
    }

    [Fact]
    public async Task A_node_with_the_network_key_but_no_master_key_cannot_make_others_remove_anything()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var honest = await cluster.Start(peers: [master]);
        var rogue = await cluster.Start(peers: [honest]);
        await WaitLinked(rogue, honest);
        string h = await master.GetTable().AddObject(Json("""{"precious":true}"""));
        await Eventually.Until(() => Holds(rogue, h), "the object reaches every node");
        ObjectHash.TryParse(h, out var target);

        var errors = new List<DtEvent>();
        using var cts = new CancellationTokenSource();
        var watch = Task.Run(async () =>
        {
            try { await foreach (var e in honest.GetNode().SubscribeEvents(new EventSubscription(), cts.Token)) if (e.Type == DtEventTypes.Error) lock (errors) errors.Add(e); }
            catch (OperationCanceledException) { }
        });
        await Eventually.Until(() => honest.Events.SubscriberCount > 0, "the watcher is subscribed");

        var link = rogue.Overlay.Links.Single(l => l.RemoteNodeId == honest.NodeId);
        using var rogueKey = MasterSigningKey.Generate();
        link.TrySend(ForgedRemoval("default", target, rogueKey, rogueKey.Id, alter: false)); // its own, untrusted key
        link.TrySend(ForgedRemoval("default", target, rogueKey, master.Signer!.Id, alter: false)); // claims the master's id
        link.TrySend(ForgedRemoval("default", target, rogueKey, master.Signer!.Id, alter: true));

        await Eventually.Until(() => { lock (errors) return errors.Count >= 3; }, "each forgery is reported as an error event");
        Assert.All(errors, e => Assert.Equal(rogue.NodeId.ToString(), e.Origin));
        Assert.Contains(errors, e => e.Error!.Contains("not a trusted master"));
        Assert.Contains(errors, e => e.Error!.Contains("failed verification"));
        Assert.Equal(h, errors[0].Hash);
        Assert.True(Holds(honest, h) && Holds(master, h));
        // Counted by reason, for /metrics (dt.changes.dropped) and /v1/node.
        Assert.Equal((1L, 2L, 0L), (honest.Metrics.Dropped(DropReason.UntrustedSigner), honest.Metrics.Dropped(DropReason.BadSignature), honest.Metrics.Dropped(DropReason.TableFull)));
        var stats = (await honest.GetNode().GetInfo()).Stats!;
        Assert.Equal(3, stats.ChangesDropped);
        Assert.Equal(new Dictionary<string, long> { ["untrusted_signer"] = 1, ["bad_signature"] = 2 }, stats.ChangesDroppedByReason);
        cts.Cancel();
        await watch;
    }

    [Fact]
    public async Task Two_masters_changing_the_same_table_in_separate_partitions_converge_by_last_writer_wins()
    {
        await using var cluster = new TestCluster();
        var m1 = await cluster.Start(master: true);
        var n1 = await cluster.Start(peers: [m1]);
        var m2 = await cluster.Start(master: true, peers: [m1]);
        var n2 = await cluster.Start(peers: [m2]);
        await WaitLinked(m2, m1);
        await WaitLinked(n2, m2);
        var t1 = m1.GetTable();
        var t2 = m2.GetTable();
        var shared = await t1.AddObjects([Json("""{"x":1}"""), Json("""{"w":1}"""), Json("""{"z":1}""")]);
        await WaitConverged([m1, n1, m2, n2]);

        await Partition([m1, n1], [m2, n2]);
        Assert.True(await t1.RemoveObject(shared[0]));                  // x removed on side 1
        Assert.True(await t1.RemoveObject(shared[1]));                  // w removed on side 1 ...
        string y = await t2.AddObject(Json("""{"y":2}"""));           // y added on side 2
        Assert.True(await t2.RemoveObject(shared[2]));                  // z removed on side 2
        Assert.True(await t2.RemoveObject(shared[1]));                  // ... and w removed, then re-added later, on side 2
        Assert.Equal(shared[1], await t2.AddObject(Json("""{"w":1}""")));
        string v = await t1.AddObject(Json("""{"v":1}"""));           // v added on side 1

        // Neither side saw the other's changes while apart.
        Assert.True(Holds(n2, shared[0]) && !Holds(n2, v) && Holds(n1, shared[2]) && !Holds(n1, y));
        Heal([m1, n1, m2, n2]);
        await WaitConverged([m1, n1, m2, n2]);
        foreach (var n in new[] { m1, n1, m2, n2 })
        {
            Assert.False(Holds(n, shared[0]));
            Assert.True(Holds(n, shared[1])); // the later re-add wins over the earlier removal
            Assert.False(Holds(n, shared[2]));
            Assert.True(Holds(n, y));
            Assert.True(Holds(n, v));
        }
    }

    [Fact]
    public async Task A_master_restarted_with_an_empty_store_removes_nothing_and_gets_everything_back()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, masterKey: 0);
        var node = await cluster.Start(peers: [master]);
        var other = await cluster.Start(peers: [node]);
        var hashes = await master.GetTable().AddObjects([.. Enumerable.Range(0, 50).Select(i => Json($$"""{"i":{{i}}}"""))]);
        await WaitConverged([master, node, other]);
        int port = master.Port!.Value;
        await cluster.Stop(master);

        var again = await cluster.Start(master: true, masterKey: 0, store: new NodeStore(), configure: o => o.Port = port);
        Assert.Equal(0, Summary(again).Count);
        await Eventually.Until(() => Summary(again).Count == 50, "the restarted master gets the objects back from the network");
        await WaitConverged([again, node, other]);
        Assert.All(hashes, h => Assert.True(Holds(other, h)));
        // And it can still remove them: removals are explicit changes.
        Assert.True(await again.GetTable().RemoveObject(hashes[0]));
        await Eventually.Until(() => !Holds(other, hashes[0]), "an explicit removal still reaches every node");
    }

    [Fact]
    public async Task The_network_key_rotates_under_live_traffic_without_losing_a_change()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var a = await cluster.Start(peers: [master]);
        var b = await cluster.Start(peers: [a]);
        var nodes = new[] { master, a, b };
        await WaitLinked(b, a);
        await WaitLinked(a, master);

        using var stop = new CancellationTokenSource();
        var added = new List<string>();
        var writer = Task.Run(async () =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                added.Add(await master.GetTable().AddObject(Json($$"""{"during":{{i}}}""")));
                await Task.Delay(10);
            }
        });

        string newKey = NetworkKey.Generate().ToBase64();
        string oldId = master.Keys.Primary.IdHex;
        string newId = "";
        foreach (var n in nodes) newId = n.InstallKey(newKey);
        foreach (var n in nodes) n.UseKey(newId);
        foreach (var n in nodes) n.RemoveKey(oldId);
        await Eventually.Until(() => nodes.All(n => n.Overlay.Links.Count > 0 && n.Overlay.Links.All(l => Convert.ToHexStringLower(l.KeyId) == newId)),
            "every link runs on the new key");
        await Eventually.Until(() => added.Count > 20, "traffic continued across the switch");
        stop.Cancel();
        await writer;
        await WaitConverged(nodes);
        Assert.All(added, h => Assert.True(Holds(b, h)));
        var ex = Assert.Throws<DtException>(() => master.RemoveKey(newId));
        Assert.Contains("primary", ex.Message);
    }
}
