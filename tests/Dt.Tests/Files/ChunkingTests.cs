using System.Security.Cryptography;
using System.Text.Json;
using Dt.Files;
using Xunit;

namespace Dt.Tests.Files;

/// <summary>The pieces of Dt.Files without a node: chunk cut points, the chunk codec, manifest checks, mirror paths.</summary>
public sealed class ChunkingTests
{
    private static readonly ContentChunker Chunker = new(64 * 1024, 128 * 1024);

    private static List<byte[]> Cut(byte[] data)
    {
        var chunks = new List<byte[]>();
        for (int at = 0; at < data.Length;)
        {
            int n = Chunker.Cut(data.AsSpan(at), final: true);
            chunks.Add(data[at..(at + n)]);
            at += n;
        }
        return chunks;
    }

    [Fact]
    public void An_insertion_changes_only_the_chunks_around_it()
    {
        var data = FileTrees.RandomBytes(new Random(1), 4_000_000);
        var before = Cut(data).Select(c => Convert.ToHexString(SHA256.HashData(c))).ToHashSet();
        var inserted = data[..2_000_000].Concat(new byte[] { 1, 2, 3 }).Concat(data[2_000_000..]).ToArray();
        var after = Cut(inserted).Select(c => Convert.ToHexString(SHA256.HashData(c))).ToList();
        Assert.All(Cut(data), c => Assert.InRange(c.Length, 1, 128 * 1024));
        Assert.True(after.Count(h => !before.Contains(h)) <= 2, $"{after.Count(h => !before.Contains(h))} of {after.Count} chunks changed");
    }

    [Fact]
    public void A_chunk_round_trips_compressed_or_not_and_its_object_hash_is_its_canonical_json_hash()
    {
        foreach (var raw in new[] { FileTrees.RandomBytes(new Random(2), 100_000), System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("chunk of text ", 5000))) })
        {
            var e = ChunkCodec.Encode(raw);
            Assert.Equal(raw[0] == (byte)'c', e.Compressed);
            using var doc = JsonDocument.Parse(e.Json);
            Assert.Equal(Dt.Model.CanonicalJson.HashHex(doc.RootElement), e.Ref.ObjectHash);
            var back = new byte[raw.Length];
            ChunkCodec.Decode(doc.RootElement, e.Ref, back);
            Assert.Equal(raw, back);
        }
    }

    [Fact]
    public void A_chunk_that_does_not_match_its_manifest_is_refused()
    {
        var raw = FileTrees.RandomBytes(new Random(3), 10_000);
        var e = ChunkCodec.Encode(raw);
        using var doc = JsonDocument.Parse(e.Json);
        var wrongHash = e.Ref with { Sha256 = new string('0', 64) };
        Assert.Throws<InvalidDataException>(() => ChunkCodec.Decode(doc.RootElement, wrongHash, new byte[raw.Length]));
        Assert.Throws<InvalidDataException>(() => ChunkCodec.Decode(doc.RootElement, e.Ref with { Size = 9_999 }, new byte[9_999]));
        using var bomb = JsonDocument.Parse(ChunkCodec.Encode(new byte[1_000_000]).Json); // inflates to 1 MB
        Assert.Throws<InvalidDataException>(() => ChunkCodec.Decode(bomb.RootElement, new ChunkRef("x", new string('0', 64), 1000), new byte[1000]));
        using var junk = JsonDocument.Parse("""{"data":"not base64url!"}""");
        Assert.Throws<InvalidDataException>(() => ChunkCodec.Decode(junk.RootElement, e.Ref, new byte[raw.Length]));
    }

    [Theory]
    [InlineData("../x", "'..'")]
    [InlineData("a/../../x", "'..'")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("C:/x", "absolute")]
    [InlineData("a//b", "empty part")]
    [InlineData("a/./b", "'.'")]
    [InlineData("a\\..\\b", "backslash")]
    [InlineData("a/\u0001", "control")]
    [InlineData(".dt-files/state.json", "mirror's own")]
    [InlineData("", "empty")]
    public void Manifest_paths_that_could_leave_a_mirror_are_refused(string path, string reason)
    {
        var error = FileManifest.PathError(path);
        Assert.NotNull(error);
        Assert.Contains(reason, error);
    }

    [Fact]
    public void A_manifest_round_trips_and_inconsistent_ones_are_refused()
    {
        var chunk = new ChunkRef(new string('a', 64), new string('b', 64), 10);
        var m = new FileManifest("dir/file.txt", 10, 0x1A4, 1_700_000_000_000_000, new string('c', 64), 5, [chunk]);
        Assert.True(FileManifest.TryParse(m.ToJson(), out var back, out _));
        Assert.Equal(m with { Chunks = [] }, back! with { Chunks = [] });
        Assert.Equal(m.Chunks, back!.Chunks);

        foreach (var (bad, why) in new[]
                 {
                     (m with { Size = 11 }, "the chunks hold 10 bytes"),
                     (m with { Mode = 0x200 }, "'mode'"),
                     (m with { Sha256 = "ABC" }, "'sha256'"),
                     (m with { Path = "../up" }, "refused"),
                 })
        {
            Assert.False(FileManifest.TryParse(bad.ToJson(), out _, out var error));
            Assert.Contains(why, error);
        }
        Assert.False(FileManifest.TryParse(JsonDocument.Parse("""{"type":"dt.file"}""").RootElement, out _, out _));
        Assert.False(FileManifest.TryParse(JsonDocument.Parse("[1,2]").RootElement, out _, out _));
    }

    [Fact]
    public void Mirror_paths_never_pass_through_a_symbolic_link()
    {
        using var dirs = new Silo.TempDirs();
        string root = dirs.New("root"), outside = dirs.New("outside");
        Directory.CreateSymbolicLink(Path.Combine(root, "link"), outside);
        var paths = new MirrorPaths(root);
        Assert.Contains("symbolic link", Assert.Throws<FileSyncException>(() => paths.Resolve("link/x", createDirectories: true)).Message);
        Assert.Equal(Path.Combine(paths.Root, "a", "b"), paths.Resolve("a/b", createDirectories: true));
        Assert.True(Directory.Exists(Path.Combine(root, "a")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }
}
