using System.Text;
using Dt.Model;
using Dt.Protocol;
using Dt.Replication;
using Xunit;

namespace Dt.Tests.Engine;

/// <summary>
/// A table that has gone quiet keeps a held batch thin: a live member as its entry's position, its hash taken from
/// the JSON when asked. Whatever happens to the table afterwards (replacements, removals, entries dropped and moved
/// in the index, more batches), every held batch must still list exactly the members its master signed.
/// </summary>
public sealed class ThinBatchTests
{
    private static readonly Guid Author = Guid.NewGuid();
    private ulong _hlc;
    private readonly Dictionary<(Guid, ulong), BatchMember[]> _signed = new();

    private ChangeBatch Sign(BatchMember[] members)
    {
        var batch = new ChangeBatch(Author, ++_hlc, members, new byte[64]);
        _signed[batch.Key] = [.. members];
        return batch;
    }

    private sealed class Quiet : ITableObserver
    {
        public static readonly Quiet Instance = new();

        public void OnApplied(TableState table, ReadOnlySpan<AppliedChange> applied, string origin) { }
    }

    private static byte[] Object(int i) => Encoding.UTF8.GetBytes($$"""{"i":{{i}},"p":"{{new string('y', 60 + i % 29)}}"}""");

    private List<ObjectHash> Add(TableState t, IEnumerable<int> ids)
    {
        var json = ids.Select(Object).ToList();
        var hashes = json.Select(j => ObjectHash.Of(j)).ToArray();
        t.AddLocal(hashes, json, long.MaxValue, Sign, Quiet.Instance, null);
        return [.. hashes];
    }

    /// <summary>Every held batch lists its signed members, serves its current entries, and survives the wire.</summary>
    private void AssertIntact(TableState t, Dictionary<ObjectHash, int> live)
    {
        Assert.Equal(live.Count, t.LiveCount);
        foreach (var (h, i) in live)
        {
            Assert.True(t.TryGetLive(h, out var json));
            Assert.Equal(Object(i), json.ToArray());
        }
        var carried = 0;
        foreach (var batch in t.SnapshotBatches())
        {
            var signed = _signed[batch.Key];
            Assert.Equal(signed, batch.Members);
            for (int i = 0; i < signed.Length; i++) Assert.Equal(signed[i], batch.MemberAt(i));
            var current = new List<Change>();
            t.CurrentOf(batch, current);
            foreach (var c in current)
            {
                var m = signed[c.Member];
                Assert.Equal(m.Removed, c.Version.Removed);
                if (m.Removed) continue;
                Assert.Equal(m.Hash, ObjectHash.Of(c.Json.Span));
                Assert.True(live.ContainsKey(m.Hash));
                carried++;
            }
            // Sent to a peer that derives hashes and to one that does not: the receiver gets the signed list either way.
            foreach (bool derive in new[] { true, false })
            {
                if (current.Count == 0) break;
                var w = new WireWriter(1 << 16);
                BatchCodec.EncodeHeader(w, t.Name, 1);
                BatchCodec.EncodeGroup(w, batch, current, 0, current.Count, derive: derive);
                var r = new WireReader(w.WrittenSpan);
                Assert.Equal((byte)MessageType.Changes, r.U8());
                var (_, groups) = BatchCodec.Decode(ref r, 1 << 20);
                Assert.Equal(signed, groups[0].Batch.Members);
                w.Dispose();
            }
        }
        Assert.Equal(live.Count, carried);
    }

    [Fact]
    public void Thin_batches_keep_listing_what_their_master_signed_through_replacements_removals_and_moves_in_the_index()
    {
        var t = new TableState("t");
        var live = new Dictionary<ObjectHash, int>();
        var random = new Random(11);
        int next = 0;
        for (int round = 0; round < 6; round++)
        {
            var ids = Enumerable.Range(next, 1500).ToList();
            next += 1500;
            var hashes = Add(t, ids);
            for (int k = 0; k < ids.Count; k++) live[hashes[k]] = ids[k];
            var digestBefore = t.Summary();
            var rootBefore = t.Root;

            t.TrimExcess();

            // Batches of adds go thin; a removal's batch (only a tombstone to back) would only grow, and stays thick.
            Assert.All(t.SnapshotBatches(), b => Assert.Equal(!_signed[b.Key].All(m => m.Removed), b.IsThin));
            Assert.Equal(digestBefore, t.Summary());
            Assert.Equal(rootBefore, t.Root);
            AssertIntact(t, live);

            // Removals turn entries into tombstones (their live members keep their hashes from then on) ...
            foreach (var h in live.Keys.OrderBy(_ => random.Next()).Take(400).ToList())
            {
                Assert.NotNull(t.RemoveLocal(h, Sign, Quiet.Instance, null));
                live.Remove(h);
            }
            // ... old ones are purged, which moves the index's last entries into the holes ...
            if (round % 2 == 1) Assert.True(t.PurgeTombstones(ulong.MaxValue) > 0);
            // ... and a removed object added again is a new member of a new batch.
            var again = Enumerable.Range(0, next).Where(i => !live.ContainsValue(i)).OrderBy(_ => random.Next()).Take(100).ToList();
            var readded = Add(t, again);
            for (int k = 0; k < again.Count; k++) live[readded[k]] = again[k];
            AssertIntact(t, live);
        }
        // Entries dropped outright (a batch no trusted master signed) move others in the index too.
        var drop = t.SnapshotBatches().Where(b => b.IsThin).OrderBy(b => b.Hlc).Skip(1).First();
        var dropped = new List<Change>();
        t.CurrentOf(drop, dropped);
        foreach (var c in dropped) live.Remove(_signed[drop.Key][c.Member].Hash);
        Assert.True(t.ForgetWhere(b => b.Key != drop.Key, "test", Quiet.Instance) > 0);
        AssertIntact(t, live);
    }

    [Fact]
    public void A_busy_table_thins_its_batches_once_enough_members_are_thick()
    {
        var t = new TableState("t");
        Add(t, Enumerable.Range(0, TableState.ThinAfterMembers - 1));
        Assert.Equal(TableState.ThinAfterMembers - 1, t.ThickMembers);
        Assert.False(t.ThinBatchesIfDue());
        Assert.All(t.SnapshotBatches(), b => Assert.False(b.IsThin));

        var hashes = Add(t, Enumerable.Range(TableState.ThinAfterMembers, 10));
        Assert.True(t.ThinBatchesIfDue());
        Assert.Equal(0, t.ThickMembers);
        Assert.All(t.SnapshotBatches(), b => Assert.True(b.IsThin));
        Assert.False(t.ThinBatchesIfDue());

        // New batches are thick until the next pass; a removal's batch is counted too, and released ones are not.
        Assert.NotNull(t.RemoveLocal(hashes[0], Sign, Quiet.Instance, null));
        Assert.Equal(1, t.ThickMembers);
        var live = Enumerable.Range(0, TableState.ThinAfterMembers - 1).Concat(Enumerable.Range(TableState.ThinAfterMembers + 1, 9))
            .ToDictionary(i => ObjectHash.Of(Object(i)), i => i);
        AssertIntact(t, live);
    }

    [Fact]
    public async Task Nodes_serve_a_sync_from_thin_batches_and_remove_through_them()
    {
        await using var cluster = new TestCluster();
        // Trims off: the tables are thinned by their own count of thick members, as on a node that is never quiet.
        Action<Dt.Hosting.DtOptions> noTrim = o => o.TrimMemoryAfterBytes = 0;
        var master = await cluster.Start(master: true, configure: noTrim);
        var node = await cluster.Start(peers: [master], configure: noTrim);
        var objects = Enumerable.Range(0, TableState.ThinAfterMembers + 5000).Select(i => TestCluster.Json($$"""{"thin":{{i}}}""")).ToList();
        var hashes = await master.GetTable().AddObjects(objects);
        await TestCluster.WaitConverged([master, node]);
        var held = node.Replicator.Find("default")!;
        await Eventually.Until(() => held.ThickMembers == 0 && master.Replicator.Find("default")!.ThickMembers == 0, "both tables thinned their batches");
        Assert.All(held.SnapshotBatches(), b => Assert.True(b.IsThin));

        // Removals reach the node through entries whose batches are thin.
        foreach (var h in hashes.Take(100)) Assert.True(await master.GetTable().RemoveObject(h));
        await TestCluster.WaitConverged([master, node]);
        Assert.Equal(objects.Count - 100, TestCluster.Summary(node).Count);

        // With the master gone, a newcomer syncs from the node's batches alone, and every signature checks out there.
        await cluster.Stop(master);
        var late = await cluster.Start(peers: [node], configure: noTrim);
        await TestCluster.WaitConverged([node, late]);
        Assert.Equal(objects.Count - 100, TestCluster.Summary(late).Count);
        Assert.True(late.Replicator.Find("default")!.BatchCount > 0);
    }

    [Fact]
    public void The_live_objects_after_a_skip_are_the_same_read_from_either_end()
    {
        var t = new TableState("t");
        var hashes = Add(t, Enumerable.Range(0, 5000));
        foreach (var h in hashes.Where((_, i) => i % 7 == 3)) Assert.NotNull(t.RemoveLocal(h, Sign, Quiet.Instance, null));
        Assert.True(t.PurgeTombstones(ulong.MaxValue) > 0); // moves entries from the end into the holes
        Add(t, Enumerable.Range(5000, 300));
        t.TrimExcess();
        var all = t.SnapshotLive();
        Assert.Equal(t.LiveCount, all.Count);
        foreach (long skip in new long[] { 0, 1, 2000, all.Count / 2, all.Count / 2 + 1, all.Count - 10, all.Count - 1, all.Count, all.Count + 3 })
            Assert.Equal(all.Skip((int)Math.Min(skip, all.Count)).Select(x => (x.Hash, x.Json.ToArray())), t.SnapshotLive(skip).Select(x => (x.Hash, x.Json.ToArray())));
    }

    [Fact]
    public void A_signature_checked_for_one_table_is_not_taken_for_another()
    {
        var batch = Sign([new BatchMember(ObjectHash.Of(Object(1)), false)]);
        Assert.False(batch.SignatureGoodFor("dt", "a"));
        batch.MarkSignatureGood("dt", "a");
        Assert.True(batch.SignatureGoodFor("dt", "a"));
        Assert.False(batch.SignatureGoodFor("dt", "b")); // the digest covers the table
        Assert.False(batch.SignatureGoodFor("other", "a"));
    }

    [Fact]
    public void A_peer_batch_the_table_does_not_hold_must_be_signed_and_one_it_holds_is_not_asked_again()
    {
        var t = new TableState("t");
        var objects = Enumerable.Range(0, 10).Select(Object).ToList();
        var batch = Sign([.. objects.Select(o => new BatchMember(ObjectHash.Of(o), false))]);
        List<Change> Changes(ChangeBatch b, int from, int to) =>
            [.. Enumerable.Range(from, to - from).Select(i => new Change(b.Members[i].Hash, b.VersionOf(b.Members[i]), objects[i], b, i))];
        int asked = 0;
        var refuse = new TableState.PeerRules(0, long.MaxValue, _ => { asked++; return false; });
        var applied = new List<Change>();
        t.ApplyFromPeer(Changes(batch, 0, 5), refuse, "peer", Quiet.Instance, applied, []);
        Assert.Empty(applied);
        Assert.Equal(0, t.EntryCount); // no slot left behind by a refused change
        Assert.Equal(5, asked);

        var accept = new TableState.PeerRules(0, long.MaxValue, _ => { asked++; return true; });
        asked = 0;
        t.ApplyFromPeer(Changes(batch, 0, 5), accept, "peer", Quiet.Instance, applied, []);
        Assert.Equal(5, applied.Count);
        Assert.Equal(1, asked); // once, for the batch new to the table
        // The rest of the batch arrives in another instance (the next frame): it is the held batch, nothing to ask.
        var again = new ChangeBatch(batch.Author, batch.Hlc, batch.Members, batch.Signature);
        t.ApplyFromPeer(Changes(again, 5, 10), refuse, "peer", Quiet.Instance, applied, []);
        Assert.Equal(10, applied.Count);
        Assert.Equal(1, asked);
    }

    [Fact]
    public void A_batch_held_by_one_table_is_held_by_another_as_a_copy_so_thinning_one_leaves_the_other_intact()
    {
        var a = new TableState("t");
        var b = new TableState("t");
        var json = Enumerable.Range(0, 2000).Select(Object).ToList();
        var hashes = json.Select(j => ObjectHash.Of(j)).ToArray();
        var batch = Sign([.. hashes.Select(h => new BatchMember(h, false))]);
        var changes = Enumerable.Range(0, json.Count).Select(i => new Change(hashes[i], batch.VersionOf(removed: false), json[i], batch, i)).ToList();
        a.ApplyAll(changes);
        b.ApplyAll(changes);
        var inB = Assert.Single(b.SnapshotBatches());
        Assert.NotSame(batch, inB);
        Assert.Same(batch, Assert.Single(a.SnapshotBatches()));

        a.TrimExcess();
        Assert.True(batch.IsThin);
        Assert.False(inB.IsThin);
        b.TrimExcess();
        Assert.NotNull(b.RemoveLocal(hashes[3], Sign, Quiet.Instance, null));
        var live = Enumerable.Range(0, json.Count).ToDictionary(i => hashes[i], i => i);
        AssertIntact(a, live);
        live.Remove(hashes[3]);
        AssertIntact(b, live);
    }

    [Fact]
    public void A_thin_batch_applied_into_another_table_is_held_there_as_its_own_copy()
    {
        var source = new TableState("t");
        var hashes = Add(source, Enumerable.Range(0, 3000));
        source.TrimExcess();
        var copy = new TableState("t");
        foreach (var (_, included) in source.SnapshotGroups()) copy.ApplyAll([.. included]);

        Assert.Equal(source.Summary(), copy.Summary());
        Assert.Equal(source.Root, copy.Root);
        foreach (var b in copy.SnapshotBatches())
        {
            Assert.False(b.IsThin);
            Assert.Equal(_signed[b.Key], b.Members);
        }
        // Each table thins its own batches; the source's stay intact as the copy's change.
        copy.TrimExcess();
        Assert.NotNull(copy.RemoveLocal(hashes[5], Sign, Quiet.Instance, null));
        var live = Enumerable.Range(0, 3000).Where(i => i != 5).ToDictionary(i => hashes[i], i => i);
        AssertIntact(copy, live);
        AssertIntact(source, Enumerable.Range(0, 3000).ToDictionary(i => hashes[i], i => i));
    }
}
