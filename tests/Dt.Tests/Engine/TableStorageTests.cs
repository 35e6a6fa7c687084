using System.Text;
using Dt.Model;
using Dt.Replication;
using Xunit;

namespace Dt.Tests.Engine;

/// <summary>
/// How a table stores its entries: the JSON slab (contents survive removal churn and compaction, views stay valid,
/// waste stays bounded) and the index keyed by the hash's first 64 bits (objects sharing them stay apart).
/// </summary>
public sealed class TableStorageTests
{
    private static readonly Guid Author = Guid.NewGuid();
    private ulong _hlc;

    private ChangeBatch Sign(BatchMember[] members) => new(Author, ++_hlc, members, new byte[64]);

    private sealed class Recorder : ITableObserver
    {
        /// <summary>Each change heard; Json is what was stored (add, replace) or what was removed (removal).</summary>
        public readonly List<(ApplyOutcome Outcome, byte[] Json)> Heard = [];
        public readonly List<ReadOnlyMemory<byte>> Views = [];

        public void OnApplied(TableState table, ReadOnlySpan<AppliedChange> applied, string origin)
        {
            foreach (var a in applied)
            {
                Heard.Add((a.Outcome, a.Json.ToArray()));
                if (a.Outcome == ApplyOutcome.Added) Views.Add(a.Json);
            }
        }
    }

    private static byte[] Object(int i, int pad = 80) => Encoding.UTF8.GetBytes($$"""{"i":{{i}},"p":"{{new string('x', pad + i % 37)}}"}""");

    private List<ObjectHash> Add(TableState t, IEnumerable<int> ids, ITableObserver observer)
    {
        var json = ids.Select(i => Object(i)).ToList();
        var hashes = json.Select(j => ObjectHash.Of(j)).ToArray();
        t.AddLocal(hashes, json, long.MaxValue, Sign, observer, null);
        return [.. hashes];
    }

    [Fact]
    public void Removal_churn_keeps_every_live_object_intact_and_the_slab_within_a_third_over_its_live_json()
    {
        var t = new TableState("t");
        var observer = new Recorder();
        var live = new Dictionary<ObjectHash, int>();
        int next = 0;
        var random = new Random(7);
        // 40 rounds: add 2,000, remove about 1,900 of what is held, at random; the table stays small, the churn is large.
        for (int round = 0; round < 40; round++)
        {
            var ids = Enumerable.Range(next, 2000).ToList();
            next += 2000;
            var hashes = Add(t, ids, observer);
            for (int k = 0; k < ids.Count; k++) live[hashes[k]] = ids[k];
            foreach (var h in live.Keys.OrderBy(_ => random.Next()).Take(1900).ToList())
            {
                Assert.NotNull(t.RemoveLocal(h, Sign, observer, null));
                live.Remove(h);
            }
        }

        Assert.Equal(live.Count, t.LiveCount);
        foreach (var (h, i) in live)
        {
            Assert.True(t.TryGetLive(h, out var json));
            Assert.Equal(Object(i), json.ToArray());
        }
        long liveBytes = (long)t.LiveJsonBytes;
        Assert.Equal(live.Values.Sum(i => (long)Object(i).Length), liveBytes);
        // The slab compacted (80,000 objects of ≈ 120 B passed through it, 9.6 MB) and holds, besides the segment being
        // filled, at most 4/3 of the live JSON, or the live JSON and one segment's worth of dead bytes (compaction waits
        // for that much), with a byte of length prefix per object.
        long bound = Math.Max(liveBytes * 4 / 3, liveBytes + JsonSlab.SegmentBytes) + t.LiveCount + JsonSlab.SegmentBytes;
        Assert.True(t.SlabBytes <= bound, $"slab {t.SlabBytes} B for {liveBytes} B of live JSON");

        // Every removal event carried the removed object's JSON, and every view handed out still reads as it did.
        Assert.All(observer.Heard.Where(e => e.Outcome == ApplyOutcome.Removed), e => Assert.Contains("\"i\":", Encoding.UTF8.GetString(e.Json)));
        var added = observer.Heard.Where(e => e.Outcome == ApplyOutcome.Added).Select(e => e.Json).ToList();
        Assert.Equal(80_000, added.Count);
        for (int k = 0; k < added.Count; k++) Assert.Equal(added[k], observer.Views[k].ToArray());
    }

    [Fact]
    public void What_an_add_applied_before_it_failed_is_heard_and_not_heard_again_later()
    {
        var t = new TableState("t");
        var observer = new Recorder();
        int signed = 0;
        ChangeBatch SignOnce(BatchMember[] members) =>
            ++signed == 1 ? Sign(members) : throw new InvalidOperationException("the signer failed");
        // Two batches' worth: the first is signed and applied, the second's signature fails.
        var json = Enumerable.Range(0, ChangeBatch.MaxMembers + 10).Select(i => Object(i)).ToList();
        var hashes = json.Select(j => ObjectHash.Of(j)).ToArray();
        Assert.Throws<InvalidOperationException>(() => t.AddLocal(hashes, json, long.MaxValue, SignOnce, observer, null));
        Assert.Equal(ChangeBatch.MaxMembers, t.LiveCount);
        Assert.Equal(ChangeBatch.MaxMembers, observer.Heard.Count(e => e.Outcome == ApplyOutcome.Added));

        observer.Heard.Clear();
        Add(t, [100_000], observer);
        Assert.Single(observer.Heard); // only the new add, nothing left over from the failed call
    }

    [Fact]
    public void Objects_larger_than_a_quarter_segment_get_their_own_array_and_free_it_when_removed()
    {
        var t = new TableState("t");
        var observer = new Recorder();
        var big = Encoding.UTF8.GetBytes($$"""{"big":"{{new string('b', JsonSlab.SegmentBytes)}}"}""");
        var hash = ObjectHash.Of(big);
        t.AddLocal([hash], [big], long.MaxValue, Sign, observer, null);
        Assert.True(t.TryGetLive(hash, out var json));
        Assert.Equal(big, json.ToArray());
        long withBig = t.SlabBytes;
        Assert.True(withBig >= big.Length);

        Assert.NotNull(t.RemoveLocal(hash, Sign, observer, null));
        Assert.Equal(withBig - big.Length, t.SlabBytes);
        Assert.Equal(big, observer.Heard[^1].Json);
    }

    [Fact]
    public void Segments_grow_from_small_so_a_small_table_stays_small()
    {
        var t = new TableState("t");
        Add(t, Enumerable.Range(0, 10), new Recorder());
        Assert.True(t.SlabBytes <= 8 << 10, $"10 small objects took {t.SlabBytes} B of slab");

        Add(t, Enumerable.Range(10, 100_000), new Recorder());
        // ≈ 12 MB of JSON in 1 MiB segments: the few small first segments do not matter.
        Assert.True(t.SlabSegments < (int)(t.LiveJsonBytes / JsonSlab.SegmentBytes) + 12, $"{t.SlabSegments} segments");
        Assert.True(t.SlabBytes <= (long)t.LiveJsonBytes + JsonSlab.SegmentBytes * 2, $"slab {t.SlabBytes} B for {t.LiveJsonBytes} B");
    }

    [Fact]
    public void A_large_table_filling_its_slab_from_spare_segments_keeps_every_object_intact()
    {
        // Past JsonSlab.SpareFromBytes a growing slab takes segments a pool thread wrote ahead: every object in them
        // must read back as added, through a trim (which drops the spare) and more adds after it.
        var t = new TableState("t");
        int n = (int)(JsonSlab.SpareFromBytes / 100) + 60_000;
        var hashes = Add(t, Enumerable.Range(0, n), new Recorder());
        Assert.True(t.SlabBytes > JsonSlab.SpareFromBytes + 4 * JsonSlab.SegmentBytes, $"slab {t.SlabBytes} B");
        t.TrimExcess();
        var more = Add(t, Enumerable.Range(n, 20_000), new Recorder());
        for (int i = 0; i < n; i++)
        {
            Assert.True(t.TryGetLive(hashes[i], out var json));
            Assert.True(json.Span.SequenceEqual(Object(i)), $"object {i}");
        }
        for (int i = 0; i < more.Count; i++)
        {
            Assert.True(t.TryGetLive(more[i], out var json));
            Assert.True(json.Span.SequenceEqual(Object(n + i)), $"object {n + i}");
        }
    }

    [Fact]
    public void Objects_whose_hashes_share_their_first_64_bits_are_held_apart_through_add_replace_and_remove()
    {
        var t = new TableState("t");
        var observer = new Recorder();
        // Three hashes with one head: the index keeps the first under its 64-bit key and the others beside it.
        var hashes = new[] { new ObjectHash(42, 1, 0, 0), new ObjectHash(42, 2, 0, 0), new ObjectHash(42, 3, 0, 0) };
        var json = hashes.Select((_, i) => Object(i)).ToList();
        t.AddLocal(hashes, json, long.MaxValue, Sign, observer, null);
        Assert.Equal(3, t.LiveCount);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(t.TryGetLive(hashes[i], out var held));
            Assert.Equal(json[i], held.ToArray());
        }
        Assert.False(t.TryGetLive(new ObjectHash(42, 4, 0, 0), out _));

        // Remove the one under the shared key: the others are still found, and it can come back.
        Assert.NotNull(t.RemoveLocal(hashes[0], Sign, observer, null));
        Assert.False(t.TryGetLive(hashes[0], out _));
        Assert.True(t.TryGetLive(hashes[1], out _));
        Assert.True(t.TryGetLive(hashes[2], out _));
        t.AddLocal([hashes[0]], [json[0]], long.MaxValue, Sign, observer, null);
        Assert.Equal(3, t.LiveCount);
        Assert.Equal(3, t.EntryCount);

        // Every range listing sees each entry once, under its full hash.
        var all = t.InRanges(1, [(ulong)0], withJson: true);
        Assert.Equal(hashes.OrderBy(h => h.B), all.Select(c => c.Hash).OrderBy(h => h.B));
        Assert.All(all, c => Assert.Equal(json[hashes.ToList().IndexOf(c.Hash)], c.Json.ToArray()));
        var (count, digest) = t.Summary();
        Assert.Equal(3, count);

        // The same set applied to another table in another order has the same digest.
        var u = new TableState("u");
        u.AddLocal([hashes[2], hashes[0], hashes[1]], [json[2], json[0], json[1]], long.MaxValue, Sign, new Recorder(), null);
        Assert.Equal(digest, u.Summary().Digest);
    }

    [Fact]
    public void A_batch_member_takes_33_bytes_as_on_the_wire()
    {
        // Every held object keeps one member; padding it to 40 bytes would cost 7 MB per million objects.
        Assert.Equal(33, System.Runtime.CompilerServices.Unsafe.SizeOf<BatchMember>());
    }
}
