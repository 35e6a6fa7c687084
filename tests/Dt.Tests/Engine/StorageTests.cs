using Dt.Hosting;
using Dt.Storage;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

[Collection(nameof(StorageTests))] // lowers a process-wide compaction threshold
public sealed class StorageTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dt-storage-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Sets a process-wide storage knob for one test; disposing puts it back.</summary>
    private static Restore Knob<T>(Func<T> get, Action<T> set, T value)
    {
        var saved = get();
        set(value);
        return new Restore(() => set(saved));
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    private void Disk(DtOptions o)
    {
        o.Storage = DtStorage.Disk;
        o.DataDir = _dir;
    }

    [Fact]
    public async Task A_restarted_master_comes_back_with_its_tables_before_it_links()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        var hashes = await master.GetTable("zone").AddObjects([.. Enumerable.Range(0, 1000).Select(i => Json($$"""{"n":{{i}}}"""))]);
        foreach (var h in hashes.Take(10)) Assert.True(await master.GetTable("zone").RemoveObject(h));
        var before = Summary(master, "zone");
        await cluster.Stop(master);

        var again = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        Assert.Equal(before, Summary(again, "zone"));
        Assert.Equal(990, before.Count);
        Assert.False(Holds(again, hashes[0], "zone"));
        Assert.True(Holds(again, hashes[500], "zone"));
        // Removals survive too: a node syncing from the restarted master does not get the removed objects.
        var node = await cluster.Start(peers: [again]);
        await WaitConverged([again, node], "zone");
        Assert.False(Holds(node, hashes[0], "zone"));
    }

    [Fact]
    public async Task A_torn_tail_is_cut_off_and_everything_before_it_is_kept()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        var first = await master.GetTable().AddObjects([Json("""{"a":1}"""), Json("""{"b":2}""")]);
        string second = await master.GetTable().AddObject(Json("""{"c":3}"""));
        await cluster.Stop(master);

        string log = Path.Combine(_dir, "tables", "changes.dtl");
        long good = new FileInfo(log).Length;
        // As if the process died in the middle of writing a record: a header promising more than follows.
        await File.AppendAllBytesAsync(log, [0, 0, 1, 0, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3], TestContext.Current.CancellationToken);

        var again = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        Assert.Equal(3, Summary(again).Count);
        Assert.True(Holds(again, first[1]) && Holds(again, second));
        Assert.Equal(good, new FileInfo(log).Length);
        string third = await again.GetTable().AddObject(Json("""{"d":4}"""));
        await cluster.Stop(again);
        var thrice = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        Assert.True(Holds(thrice, third));
        Assert.Equal(4, Summary(thrice).Count);
    }

    [Fact]
    public async Task A_record_that_passes_its_crc_but_does_not_decode_ends_the_replay_there()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        var added = new List<string>();
        for (int i = 0; i < 20; i++) added.Add(await master.GetTable().AddObject(Json($$"""{"n":{{i}}}""")));
        await cluster.Stop(master);

        string log = Path.Combine(_dir, "tables", "changes.dtl");
        byte[] bytes = await File.ReadAllBytesAsync(log, TestContext.Current.CancellationToken);
        long good = bytes.Length;
        // A whole record whose CRC holds but whose body is not a change batch (a bug, or a write from another
        // version), then a copy of the first record, which is valid: replay stops at the bad one; what follows is cut.
        byte[] garbage = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        var bad = new byte[8 + garbage.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bad, garbage.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bad.AsSpan(4), System.IO.Hashing.Crc32.HashToUInt32(garbage));
        garbage.CopyTo(bad, 8);
        int firstLength = 8 + System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes);
        await File.AppendAllBytesAsync(log, [.. bad, .. bytes.AsSpan(0, firstLength)], TestContext.Current.CancellationToken);

        var again = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        Assert.Equal(20, Summary(again).Count);
        Assert.All(added, h => Assert.True(Holds(again, h)));
        Assert.Equal(good, new FileInfo(log).Length);
    }

    [Fact]
    public async Task The_log_is_compacted_into_a_snapshot_and_both_load_back()
    {
        using var _ = Knob(() => ChangeLog.MinCompactBytes, v => ChangeLog.MinCompactBytes = v, 64 * 1024);
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        var t = master.GetTable();
        var all = new List<string>();
        for (int round = 0; round < 20; round++)
            all.AddRange(await t.AddObjects([.. Enumerable.Range(0, 100).Select(i => Json($$"""{"round":{{round}},"i":{{i}},"pad":"{{new string('p', 50)}}"}"""))]));
        foreach (var h in all.Take(300)) await t.RemoveObject(h);
        string tables = Path.Combine(_dir, "tables");
        await Eventually.Until(() => ChangeLog.Files(tables).Snapshots.Count > 0, "a snapshot is written");
        var before = Summary(master);
        await cluster.Stop(master);
        // The snapshot replaced the files before its generation; the logs from it on are what follows.
        var (logs, snapshots) = ChangeLog.Files(tables);
        long generation = Assert.Single(snapshots).Key;
        Assert.True(generation > 0);
        Assert.All(logs.Keys, g => Assert.True(g >= generation, $"log {g} is older than snapshot {generation}"));
        // The current log is compacted once it outgrows both the threshold and twice the snapshot; the changes
        // that arrived while the last snapshot was being written come on top.
        long snapshotBytes = new FileInfo(snapshots[generation]).Length, logBytes = new FileInfo(logs.Values.Last()).Length;
        Assert.True(logBytes < Math.Max(64 * 1024, 2 * snapshotBytes) + 64 * 1024, $"a log of {logBytes} B beside a snapshot of {snapshotBytes} B");

        var again = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        Assert.Equal(before, Summary(again));
        Assert.Equal(1700, before.Count);
    }

    [Fact]
    public async Task A_replay_over_many_small_chunks_brings_back_every_object_byte_for_byte()
    {
        // Chunks of 4 KiB: the two chunk buffers are reused hundreds of times, and records of 20 KiB do not fit after
        // smaller ones (the chunk ends before them) or in a buffer of the usual size (it grows). A buffer reused
        // before its changes were copied into the table would bring back other objects' bytes under these hashes.
        using var _ = Knob(() => ChangeLog.LoadChunkBytes, v => ChangeLog.LoadChunkBytes = v, 4 * 1024);
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        var t = master.GetTable();
        var added = new Dictionary<string, string>(); // canonical JSON (keys in order) by hash
        for (int round = 0; round < 40; round++)
        {
            var values = Enumerable.Range(0, round % 7 + 1)
                .Select(i => $$"""{"i":{{i}},"pad":"{{new string((char)('a' + round % 26), round % 5 == 4 ? 20_000 : 10 + round * i)}}","round":{{round}}}""")
                .ToList();
            var hashes = await t.AddObjects([.. values.Select(Json)]);
            for (int i = 0; i < hashes.Count; i++) added[hashes[i]] = values[i];
        }
        var before = Summary(master);
        await cluster.Stop(master);

        var again = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        Assert.Equal(before, Summary(again));
        Assert.Equal(added.Count, before.Count);
        await HoldsByteForByte(again, added);
    }

    /// <summary>Every object of <paramref name="added"/> (canonical JSON by hash) is in the node's default table, byte for byte.</summary>
    private static async Task HoldsByteForByte(DtNode node, IEnumerable<KeyValuePair<string, string>> added)
    {
        foreach (var (hash, json) in added)
        {
            var got = await node.GetTable().GetObject(hash);
            Assert.NotNull(got);
            Assert.Equal(json, got.Value.GetRawText());
        }
    }

    [Fact]
    public async Task Relayed_and_journaled_frames_keep_every_objects_bytes_although_their_chunks_are_reused()
    {
        // A relaying node on disk: each received frame's JSON sits in rented chunks that go back to the pool once the
        // frame is applied, relayed and journaled, and the next frames reuse them at once. Given back too early, the
        // table, the relayed frames or the log would hold other objects' bytes under these hashes.
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var relay = await cluster.Start(peers: [master], configure: Disk);
        var last = await cluster.Start(peers: [relay]);
        await WaitLinked(master, relay);
        await WaitLinked(relay, last);
        var added = new System.Collections.Concurrent.ConcurrentDictionary<string, string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 48), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = TestContext.Current.CancellationToken }, async (round, _) =>
        {
            var values = Enumerable.Range(0, 50 + round * 7)
                .Select(i => $$"""{"i":{{i}},"pad":"{{new string((char)('a' + round % 26), 20 + (round * 31 + i) % 300)}}","round":{{round}}}""")
                .ToList();
            var hashes = await master.GetTable().AddObjects([.. values.Select(Json)]);
            for (int i = 0; i < hashes.Count; i++) added[hashes[i]] = values[i];
        });
        await WaitConverged([master, relay, last]);
        Assert.Equal(added.Count, Summary(last).Count);

        await HoldsByteForByte(relay, added);
        await HoldsByteForByte(last, added);
        // What the relay journaled: its log brings back the same bytes (a replay checks every hash as it decodes).
        var before = Summary(relay);
        await cluster.Stop(relay);
        var again = await cluster.Start(configure: Disk);
        Assert.Equal(before, Summary(again));
        await HoldsByteForByte(again, added);
    }

    [Fact]
    public async Task A_replay_sizes_a_single_table_index_for_what_its_files_project_instead_of_doubling()
    {
        // 2,100 objects in 21 records over 4 KiB chunks: the projection is made a sixteenth of the way in and lands near
        // 2,100 × 9/8; an index that doubled its way there would hold room for 4,096.
        using var _ = Knob(() => ChangeLog.LoadChunkBytes, v => ChangeLog.LoadChunkBytes = v, 4 * 1024);
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        for (int round = 0; round < 21; round++)
            await master.GetTable().AddObjects([.. Enumerable.Range(0, 100).Select(i => Json($$"""{"i":{{i}},"round":{{round}}}"""))]);
        await cluster.Stop(master);

        var again = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        var table = again.Replicator.Find("default")!;
        Assert.Equal(2100, table.LiveCount);
        Assert.InRange(table.IndexCapacity, 2100, 2100 * 3 / 2);
    }

    [Fact]
    public async Task A_restart_keeps_only_batches_a_trusted_master_signed_over_what_the_files_hold()
    {
        // Batches of two masters in one log; the node restarted trusts only the second, and one of the second's
        // signatures is damaged on disk (the record's CRC fixed up, as a tamperer would). The replay checks signatures
        // while it decodes; what fails must be gone once the node starts, and everything else kept.
        await using var cluster = new TestCluster();
        var first = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        var untrusted = await first.GetTable().AddObjects([.. Enumerable.Range(0, 50).Select(i => Json($$"""{"by":1,"i":{{i}}}"""))]);
        await cluster.Stop(first);
        var second = await cluster.Start(master: true, masterKey: 2, configure: Disk);
        var kept = await second.GetTable().AddObjects([.. Enumerable.Range(0, 50).Select(i => Json($$"""{"by":2,"i":{{i}}}"""))]);
        var damaged = await second.GetTable().AddObjects([.. Enumerable.Range(0, 50).Select(i => Json($$"""{"by":2,"damaged":{{i}}}"""))]);
        var table = second.Replicator.Find("default")!;
        byte[] signature = table.SnapshotBatches().Single(b => b.Members.Any(m => m.Hash.ToString() == damaged[0])).Signature;
        await cluster.Stop(second);

        string log = Path.Combine(_dir, "tables", ChangeLog.LogName(0));
        byte[] bytes = await File.ReadAllBytesAsync(log, TestContext.Current.CancellationToken);
        int at = bytes.AsSpan().IndexOf(signature);
        Assert.True(at > 0, "the signature is in the log");
        bytes[at + 10] ^= 0xFF;
        // The CRC of the record around it, so that only the signature check can find the damage.
        for (int record = 0; record < bytes.Length;)
        {
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(record));
            if (at < record + 8 + length)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(record + 4), System.IO.Hashing.Crc32.HashToUInt32(bytes.AsSpan(record + 8, length)));
                break;
            }
            record += 8 + length;
        }
        await File.WriteAllBytesAsync(log, bytes, TestContext.Current.CancellationToken);

        var again = await cluster.Start(configure: o =>
        {
            Disk(o);
            o.TrustedMasterKeys.Clear();
            o.TrustedMasterKeys.Add(TestCluster.MasterKeys[2].PublicKeyBase64);
        });
        Assert.Equal(kept.Count, Summary(again).Count);
        Assert.All(kept, h => Assert.True(Holds(again, h)));
        Assert.All(untrusted, h => Assert.False(Holds(again, h), "a batch of a master not trusted was kept"));
        Assert.All(damaged, h => Assert.False(Holds(again, h), "a batch whose signature was damaged was kept"));
    }

    [Fact]
    public async Task A_log_older_than_the_snapshot_is_not_replayed_over_it_and_is_deleted()
    {
        // A log of generation 0 holding an object the snapshot does not: what a crash between a snapshot's commit and
        // the deletion of the logs it covers leaves behind. Replayed, it would bring back an object whose removal the
        // snapshot no longer records.
        string other = Path.Combine(_dir, "other");
        string stale;
        await using (var first = new TestCluster())
        {
            var m = await first.Start(master: true, masterKey: 1, configure: o => { o.Storage = DtStorage.Disk; o.DataDir = other; });
            stale = await m.GetTable().AddObject(Json("""{"stale":true}"""));
            await first.Stop(m);
        }

        using var _ = Knob(() => ChangeLog.MinCompactBytes, v => ChangeLog.MinCompactBytes = v, 64 * 1024);
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        var kept = new List<string>();
        for (int round = 0; round < 20; round++)
            kept.AddRange(await master.GetTable().AddObjects([.. Enumerable.Range(0, 100).Select(i => Json($$"""{"round":{{round}},"i":{{i}},"pad":"{{new string('p', 50)}}"}"""))]));
        string tables = Path.Combine(_dir, "tables");
        await Eventually.Until(() => ChangeLog.Files(tables).Snapshots.Count > 0, "a snapshot is written");
        await cluster.Stop(master);
        Assert.False(File.Exists(Path.Combine(tables, ChangeLog.LogName(0))));
        File.Copy(Path.Combine(other, "tables", ChangeLog.LogName(0)), Path.Combine(tables, ChangeLog.LogName(0)));

        var again = await cluster.Start(master: true, masterKey: 1, configure: Disk);
        Assert.False(Holds(again, stale), "the log older than the snapshot was replayed");
        Assert.Equal(2000, Summary(again).Count);
        Assert.True(Holds(again, kept[0]) && Holds(again, kept[^1]));
        Assert.False(File.Exists(Path.Combine(tables, ChangeLog.LogName(0))));
    }
}
