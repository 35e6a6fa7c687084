using System.Text.Json;
using Dt.Tests.Silo;
using Xunit;

namespace Dt.Tests.Files;

using Cli = Dt.Tests.Silo.Cli;

/// <summary>
/// `dt files` over real processes: a master and two nodes (Dt.Silo), mirrors as `dt files mirror` processes. A tree
/// of 200 files is mirrored byte-identical (content, size, mode, time) on the three nodes and follows a change, a
/// rename, a deletion and an addition; a node and its mirror that were offline meanwhile catch up; a restore from
/// any node rebuilds the tree.
/// </summary>
public sealed class FileSyncTests(ThreeNodes nodes) : IClassFixture<ThreeNodes>
{
    [Fact]
    public async Task A_published_tree_is_mirrored_on_three_nodes_follows_changes_and_an_offline_mirror_catches_up()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dirs = new TempDirs();
        string source = dirs.New("source");
        FileTrees.Generate(source);
        string expected = FileTrees.Fingerprint(source);
        Assert.Equal(200, expected.Split('\n').Length);

        var first = await Cli.OkAsync(nodes.Master.Api, null, "files", "publish", source, "--set", "tree");
        Assert.StartsWith("published 'tree': 200 files (200 added, 0 changed, 0 removed, 0 unchanged)", first);

        var mirrorDirs = new[] { dirs.New("m1"), dirs.New("m2"), dirs.New("m3") };
        var silos = new[] { nodes.Master, nodes.Node2, nodes.Node3 };
        var mirrors = new ChildProcess?[3];
        try
        {
            for (int i = 0; i < 3; i++) mirrors[i] = StartMirror(silos[i], "tree", mirrorDirs[i]);
            foreach (var d in mirrorDirs) await WaitEqualAsync(d, expected, "a mirror holds the published tree");

            // Node 3 and its mirror go offline; meanwhile one big file changes by 1%, one file is renamed, one deleted, one added.
            mirrors[2]!.Kill();
            await mirrors[2]!.WaitForExitAsync(TimeSpan.FromSeconds(10));
            nodes.Node3.Process.Kill();
            await nodes.Node3.Process.WaitForExitAsync(TimeSpan.FromSeconds(10));

            var big = await File.ReadAllBytesAsync(Path.Combine(source, "big/one.bin"), ct);
            new Random(7).NextBytes(big.AsSpan(5_000_000, big.Length / 100));
            FileTrees.Write(source, "big/one.bin", big, 0x1A4, new DateTime(2026, 3, 1, 0, 0, 0, DateTimeKind.Utc));
            File.Move(Path.Combine(source, "d1/s1/f001.bin"), Target(source, "renamed/f001.bin"));
            File.Delete(Path.Combine(source, "d2/s2/f002.txt"));
            FileTrees.Write(source, "new/added.txt", "added while node 3 was down\n"u8.ToArray(), 0x1ED);
            string changed = FileTrees.Fingerprint(source);

            var second = await Cli.OkAsync(nodes.Master.Api, null, "files", "publish", source, "--set", "tree");
            Assert.StartsWith("published 'tree': 200 files (2 added, 1 changed, 2 removed, 197 unchanged)", second);
            // 1% of 11 MB changed: a few chunks resent (each at most 512 KiB, as base64), not the file.
            long sent = SentBytes(second);
            Assert.True(sent < 3_000_000, $"sent {sent} bytes for a 1% change of an 11 MB file: {second}");

            await WaitEqualAsync(mirrorDirs[0], changed, "mirror 1 follows the changes");
            await WaitEqualAsync(mirrorDirs[1], changed, "mirror 2 follows the changes");
            Assert.False(File.Exists(Path.Combine(mirrorDirs[0], "d1/s1/f001.bin")), "the renamed file's old name is gone");
            Assert.Equal(expected, FileTrees.Fingerprint(mirrorDirs[2])); // untouched while offline

            await nodes.Node3.RestartAsync();
            mirrors[2] = StartMirror(nodes.Node3, "tree", mirrorDirs[2]);
            await WaitEqualAsync(mirrorDirs[2], changed, "mirror 3 catches up after being offline");

            // The backup half: a restore from node 2 rebuilds the tree, without the mirror's own state directory.
            string restored = Path.Combine(dirs.New("restore"), "tree");
            var restore = await Cli.RunAsync(nodes.Node2.Api, null, "files", "restore", "tree", restored);
            Assert.True(restore.ExitCode == 0, restore.ToString());
            Assert.Equal(changed, FileTrees.Fingerprint(restored));
            Assert.False(Directory.Exists(Path.Combine(restored, ".dt-files")));
        }
        finally
        {
            foreach (var m in mirrors) if (m is not null) await m.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_forged_manifest_that_escapes_the_mirror_is_refused_and_nothing_is_written_outside()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dirs = new TempDirs();
        string source = dirs.New("forged-source"), outside = dirs.New("outside"), mirror = dirs.New("forged-mirror");
        FileTrees.Write(source, "ok.txt", "a file of the set\n"u8.ToArray());
        await Cli.OkAsync(nodes.Master.Api, null, "files", "publish", source, "--set", "forged");
        var listed = await Cli.OkAsync(nodes.Master.Api, null, "list", "--table", "files.forged");
        var manifest = JsonDocument.Parse(listed.Split('\n').Single()).RootElement.GetProperty("value");

        // A link inside the mirror pointing outside it, and manifests (added by a master key holder) aiming through it,
        // up and out, and at an absolute path: each reuses the real manifest's chunks.
        Directory.CreateDirectory(mirror);
        File.CreateSymbolicLink(Path.Combine(mirror, "link"), outside);
        foreach (var path in new[] { "../escaped.txt", "link/through-link.txt", Path.Combine(outside, "absolute.txt"), "a/../../up.txt" })
        {
            string forged = manifest.GetRawText().Replace("\"ok.txt\"", JsonSerializer.Serialize(path));
            await Cli.OkAsync(nodes.Master.Api, null, "add", "--table", "files.forged", forged);
        }

        var pass = await Cli.RunAsync(nodes.Master.Api, null, "files", "mirror", "forged", mirror, "--once");
        Assert.True(pass.ExitCode == 1, pass.ToString());
        Assert.Contains("refused", pass.Stderr);
        Assert.Contains("'..'", pass.Stderr);
        Assert.Contains("absolute", pass.Stderr);
        Assert.Contains("symbolic link", pass.Stderr);
        Assert.Equal("a file of the set\n", await File.ReadAllTextAsync(Path.Combine(mirror, "ok.txt"), ct));
        Assert.Empty(FileTrees.AllFiles(outside));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(mirror)!, "escaped.txt")));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(mirror)!, "up.txt")));
    }

    [Fact]
    public async Task A_mirror_killed_while_writing_leaves_no_partial_file_under_its_final_name_and_completes_on_the_next_run()
    {
        using var dirs = new TempDirs();
        string source = dirs.New("kill-source"), mirror = dirs.New("kill-mirror");
        var content = FileTrees.RandomBytes(new Random(3), 11_000_000);
        FileTrees.Write(source, "big.bin", content);
        FileTrees.Write(source, "small.txt", "small\n"u8.ToArray());
        await Cli.OkAsync(nodes.Master.Api, null, "files", "publish", source, "--set", "kill");

        // Paced to 4 MB/s, the big file takes seconds: kill -9 once part of it is in the temporary file.
        await using (var p = StartMirror(nodes.Master, "kill", mirror, "--once", "--max-rate", "4"))
        {
            string temp = Path.Combine(mirror, ".dt-files", "tmp");
            await Eventually.Until(() => FileTrees.AllFiles(temp).Any(f => new FileInfo(f).Length > 1_000_000), "the mirror is part way through big.bin", polling: Polling.Node);
            p.Kill();
            await p.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.False(File.Exists(Path.Combine(mirror, "big.bin")), "a partly written file must not appear under its final name");

        var rerun = await Cli.RunAsync(nodes.Master.Api, null, "files", "mirror", "kill", mirror, "--once");
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(FileTrees.Fingerprint(source), FileTrees.Fingerprint(mirror));
        Assert.Empty(FileTrees.AllFiles(Path.Combine(mirror, ".dt-files", "tmp")));
    }

    [Fact]
    public async Task A_file_with_more_chunks_than_a_manifest_holds_inline_goes_through_chunk_lists_and_mirrors_and_restores()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dirs = new TempDirs();
        string source = dirs.New("lists-source"), mirror = dirs.New("lists-mirror");
        FileTrees.Write(source, "large.bin", FileTrees.RandomBytes(new Random(11), 400_000));
        FileTrees.Write(source, "small.txt", "inline\n"u8.ToArray());
        // Small chunks and 8 inline at most: the 400 KB file needs about 70 chunks, named through 9 lists.
        var options = new Dt.Files.PublishOptions { AverageChunkBytes = 4096, MaxChunkBytes = 8192, MaxInlineChunks = 8 };
        using var master = nodes.Master.Client();
        var first = await new Dt.Files.FilePublisher(master, "lists", options).PublishAsync(source, ct: ct);
        Assert.Equal(2, first.Added);
        var manifests = await Dt.Files.FileSetSnapshot.LoadAsync(master, "lists", ct);
        Assert.True(manifests.Files["large.bin"].Manifest.Lists is { Count: > 1 }, "the large file's manifest names chunk lists");
        Assert.Empty(manifests.Files["large.bin"].Manifest.Chunks);

        using var node2 = nodes.Node2.Client();
        var fileMirror = new Dt.Files.FileMirror(node2, "lists", mirror);
        await Eventually.Until(async () => (await fileMirror.SyncOnceAsync(ct: ct)).Complete && FileTrees.Fingerprint(mirror) == FileTrees.Fingerprint(source),
            "node 2's mirror holds the large file", polling: Polling.Node);

        // Changed: the new lists are sent, and the old lists and chunks no manifest names are removed.
        var content = await File.ReadAllBytesAsync(Path.Combine(source, "large.bin"), ct);
        content[200_000] ^= 1;
        FileTrees.Write(source, "large.bin", content, modified: new DateTime(2026, 6, 1, 0, 0, 0, DateTimeKind.Utc));
        var second = await new Dt.Files.FilePublisher(master, "lists", options).PublishAsync(source, ct: ct);
        Assert.Equal(1, second.Changed);
        Assert.True(second.ChunksRemoved > 0 && second.ChunksSent < first.ChunksSent, $"{second}");
        string restored = Path.Combine(dirs.New("lists-restore"), "r");
        await Dt.Files.FileMirror.RestoreAsync(master, "lists", restored, ct: ct);
        Assert.Equal(FileTrees.Fingerprint(source), FileTrees.Fingerprint(restored));
    }

    private static string Target(string root, string relative)
    {
        string path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    private static long SentBytes(string publishLine)
    {
        var m = System.Text.RegularExpressions.Regex.Match(publishLine, @"read, ([\d.]+) (kB|MB) sent");
        return (long)(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * (m.Groups[2].Value == "MB" ? 1e6 : 1e3));
    }

    private static ChildProcess StartMirror(SiloProcess silo, string set, string dir, params string[] extra) =>
        ChildProcess.Start(Binaries.Cli, ["files", "mirror", set, dir, "--api", silo.Api.ToString(), .. extra]);

    private static Task WaitEqualAsync(string dir, string expected, string what) =>
        Eventually.Until(() => FileTrees.Fingerprint(dir) == expected, what, TimeSpan.FromSeconds(60), polling: Polling.Node);
}

/// <summary>A master and two nodes (node 3 linked through node 2), as real silo processes.</summary>
public class ThreeNodes : IAsyncLifetime
{
    private readonly TempDirs _dirs = new();

    internal SiloProcess Master { get; private set; } = null!;

    internal SiloProcess Node2 { get; private set; } = null!;

    internal SiloProcess Node3 { get; private set; } = null!;

    /// <summary>Further settings of a node ("master", "node2", "node3").</summary>
    protected virtual string[] Settings(string node) => [];

    public virtual async ValueTask InitializeAsync()
    {
        Master = await StartAsync("master", Settings("master"));
        var join = JoinCommand.From(Master.Process);
        Node2 = await StartAsync("node2", [.. join, .. Settings("node2")]);
        Node3 = await StartAsync("node3",
            [.. join.Where(a => !a.StartsWith("--Dt:Peers:0=", StringComparison.Ordinal)), $"--Dt:Peers:0={await Node2.PeerAddressAsync()}", .. Settings("node3")]);
        await Task.WhenAll(Node2.WaitHealthyAsync(), Node3.WaitHealthyAsync());
    }

    /// <summary>Starts a silo, once more in a fresh directory if the first start missed the helper's 30 s wait: in a
    /// full run on a shared 2-core machine (load average 70 to 95 seen) a start alone has taken longer.</summary>
    private async Task<SiloProcess> StartAsync(string name, string[] args)
    {
        try { return await SiloProcess.StartAsync(name, _dirs.New(name), args); }
        catch (TimeoutException) { return await SiloProcess.StartAsync(name, _dirs.New(name + "-again"), args); }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in new[] { Node3, Node2, Master }) if (s is not null) await s.DisposeAsync();
        _dirs.Dispose();
    }
}
