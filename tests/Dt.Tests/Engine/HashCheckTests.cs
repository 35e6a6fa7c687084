using Dt.Model;
using Dt.Protocol;
using Dt.Replication;
using Xunit;

namespace Dt.Tests.Engine;

/// <summary>
/// A full frame's objects are hash-checked in lanes and split across cores: one altered object anywhere in it,
/// a long one included, still refuses the whole frame.
/// </summary>
public class HashCheckTests
{
    private const int Objects = 4096;

    [Fact]
    public void A_full_frame_decodes_when_every_object_matches()
    {
        var (frame, _) = Frame();
        var r = new WireReader(frame);
        var (_, groups) = BatchCodec.Decode(ref r, 1 << 20, lists: new ChangeListPool());
        Assert.Equal(Objects, groups[0].Included.Count);
        Assert.All(groups[0].Included, c => Assert.Equal(ObjectHash.Of(c.Json.Span), c.Hash));
    }

    [Fact]
    public void A_record_read_into_its_own_array_is_decoded_without_copying_and_still_checked()
    {
        var (frame, objects) = Frame();
        var r = new WireReader(frame);
        var (_, groups) = BatchCodec.Decode(ref r, 1 << 20, owned: frame);
        Assert.All(groups[0].Included, c =>
        {
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(c.Json, out var segment));
            Assert.Same(frame, segment.Array);
            Assert.Equal(ObjectHash.Of(c.Json.Span), c.Hash);
        });

        int at = frame.AsSpan().IndexOf(objects[1500]);
        frame[at + objects[1500].Length - 2] ^= 1;
        Assert.Throws<ProtocolException>(() => { var r2 = new WireReader(frame); BatchCodec.Decode(ref r2, 1 << 20, owned: frame); });
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1500)]
    [InlineData(Objects - 1)]
    [InlineData(-1)] // the long object, checked outside the lanes
    public void One_altered_object_anywhere_refuses_the_frame(int which)
    {
        var (frame, objects) = Frame();
        var target = which >= 0 ? objects[which] : objects[Objects / 2];
        int at = frame.AsSpan().IndexOf(target);
        Assert.True(at > 0);
        frame[at + target.Length - 2] ^= 1; // inside the last string value, same length
        Assert.Throws<ProtocolException>(() => { var r = new WireReader(frame); BatchCodec.Decode(ref r, 1 << 20); });
    }

    [Fact]
    public void A_frame_without_the_hashes_of_its_objects_gives_the_same_members_and_changes()
    {
        var (full, _) = Frame();
        var (derived, _) = Frame(derive: true);
        Assert.True(derived.Length < full.Length - 32 * (Objects - 1), $"derived {derived.Length} B against full {full.Length} B");
        var r1 = new WireReader(full);
        var (_, expected) = BatchCodec.Decode(ref r1, 1 << 20);
        var r2 = new WireReader(derived);
        var (_, got) = BatchCodec.Decode(ref r2, 1 << 20, lists: new ChangeListPool());
        Assert.Equal(expected[0].Batch.Members, got[0].Batch.Members);
        Assert.Equal(expected[0].Included.Select(c => (c.Hash, c.Member)), got[0].Included.Select(c => (c.Hash, c.Member)));
        Assert.Equal(ChangeBatch.Digest("dt", "t", got[0].Batch.Author, 9, expected[0].Batch.Members), ChangeBatch.Digest("dt", "t", got[0].Batch.Author, 9, got[0].Batch.Members));
    }

    [Fact]
    public void An_altered_object_in_a_frame_without_hashes_changes_the_member_the_signature_covers()
    {
        var (derived, objects) = Frame(derive: true);
        var target = objects[1500];
        int at = derived.AsSpan().IndexOf(target);
        derived[at + target.Length - 2] ^= 1;
        var r = new WireReader(derived);
        var (_, got) = BatchCodec.Decode(ref r, 1 << 20);
        // Decoding succeeds, but the derived member differs from what the master signed, so the signature check fails.
        Assert.NotEqual(ObjectHash.Of(target), got[0].Batch.Members[1500].Hash);
        Assert.Equal(ObjectHash.Of(got[0].Included[1500].Json.Span), got[0].Batch.Members[1500].Hash);
    }

    [Fact]
    public void A_member_without_a_hash_that_its_group_does_not_carry_is_refused()
    {
        var objects = new[] { "\"object-one\""u8.ToArray(), "\"object-two\""u8.ToArray() };
        var members = objects.Select(o => new BatchMember(ObjectHash.Of(o), false)).ToArray();
        var batch = new ChangeBatch(Guid.NewGuid(), 9, members, new byte[Dt.Security.TrustedMasters.SignatureSize]);
        using var w = new WireWriter();
        BatchCodec.EncodeHeader(w, "t", 1);
        BatchCodec.EncodeGroup(w, batch, [new Change(members[0].Hash, batch.VersionOf(members[0]), objects[0], batch, 0), new Change(members[1].Hash, batch.VersionOf(members[1]), objects[1], batch, 1)], 0, 2, derive: true);
        var frame = w.WrittenSpan[1..].ToArray();
        // Claim one change only: member 1 has no hash and no JSON.
        int countAt = frame.AsSpan().IndexOf(objects[0]) - 3; // member index (1 B), JSON length (1 B) and the count (1 B) before the first JSON
        Assert.Equal(2, frame[countAt]);
        frame[countAt] = 1;
        var cut = frame.AsSpan(0, frame.Length - 2 - objects[1].Length).ToArray(); // drop the second change (index, length, JSON)
        Assert.Throws<ProtocolException>(() => { var r = new WireReader(cut); BatchCodec.Decode(ref r, 1 << 20); });
    }

    private static (byte[] Frame, List<byte[]> Objects) Frame(bool derive = false)
    {
        var objects = Enumerable.Range(0, Objects)
            .Select(i => System.Text.Encoding.UTF8.GetBytes($$"""{"i":{{i}},"v":"{{new string('x', i == Objects / 2 ? 3000 : 80)}}"}"""))
            .ToList();
        var members = objects.Select(o => new BatchMember(ObjectHash.Of(o), false)).ToArray();
        var batch = new ChangeBatch(Guid.NewGuid(), 9, members, new byte[Dt.Security.TrustedMasters.SignatureSize]);
        using var w = new WireWriter(1 << 20);
        BatchCodec.EncodeHeader(w, "t", 1);
        BatchCodec.EncodeGroup(w, batch, objects.Select((o, i) => new Change(members[i].Hash, batch.VersionOf(members[i]), o, batch, i)).ToList(), 0, Objects, derive: derive);
        return (w.WrittenSpan[1..].ToArray(), objects);
    }
}
