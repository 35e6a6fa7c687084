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

    private static (byte[] Frame, List<byte[]> Objects) Frame()
    {
        var objects = Enumerable.Range(0, Objects)
            .Select(i => System.Text.Encoding.UTF8.GetBytes($$"""{"i":{{i}},"v":"{{new string('x', i == Objects / 2 ? 3000 : 80)}}"}"""))
            .ToList();
        var members = objects.Select(o => new BatchMember(ObjectHash.Of(o), false)).ToArray();
        var batch = new ChangeBatch(Guid.NewGuid(), 9, members, new byte[Dt.Security.TrustedMasters.SignatureSize]);
        using var w = new WireWriter(1 << 20);
        BatchCodec.EncodeHeader(w, "t", 1);
        BatchCodec.EncodeGroup(w, batch, objects.Select((o, i) => new Change(members[i].Hash, batch.VersionOf(members[i]), o, batch, i)).ToList(), 0, Objects);
        return (w.WrittenSpan[1..].ToArray(), objects);
    }
}
