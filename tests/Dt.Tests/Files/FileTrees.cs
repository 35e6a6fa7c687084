using System.Security.Cryptography;

namespace Dt.Tests.Files;

/// <summary>Test trees: a generated source directory, and a tree's fingerprint (path, size, mode, mtime, SHA-256
/// of every regular file, the mirror's own .dt-files directory left out) to compare mirrors with.</summary>
internal static class FileTrees
{
    /// <summary>200 files: two of 11 MB (random: incompressible), the rest small and nested three levels deep,
    /// half text (compressible), half random, with a few modes and modification times.</summary>
    public static void Generate(string root, int seed = 14)
    {
        var random = new Random(seed);
        Write(root, "big/one.bin", RandomBytes(random, 11_000_000), 0x1A4);
        Write(root, "big/two.bin", RandomBytes(random, 11_000_000), 0x1A4);
        for (int i = 0; i < 198; i++)
        {
            string dir = $"d{i % 4}/s{i % 7}" + (i % 3 == 0 ? "/deep" : "");
            bool text = i % 2 == 0;
            byte[] content = text
                ? System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, random.Next(0, 800)).Select(n => $"line {n} of file {i}: the quick brown fox\n")))
                : RandomBytes(random, random.Next(0, 70_000));
            Write(root, $"{dir}/f{i:000}.{(text ? "txt" : "bin")}", content, i % 5 == 0 ? 0x1ED /* 755 */ : i % 5 == 1 ? 0x180 /* 600 */ : 0x1A4);
        }
    }

    public static void Write(string root, string relative, byte[] content, int mode = 0x1A4, DateTime? modified = null)
    {
        string path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)mode);
        File.SetLastWriteTimeUtc(path, modified ?? new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(relative.Length * 12_345_670L));
    }

    public static byte[] RandomBytes(Random random, int n)
    {
        var b = new byte[n];
        random.NextBytes(b);
        return b;
    }

    /// <summary>One line per file, sorted: "path size mode mtime(µs) sha256".</summary>
    public static string Fingerprint(string root)
    {
        if (!Directory.Exists(root)) return "";
        var lines = new List<string>();
        foreach (var f in new DirectoryInfo(root).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(root, f.FullName).Replace('\\', '/');
            if (rel.StartsWith(".dt-files/", StringComparison.Ordinal)) continue;
            int mode = OperatingSystem.IsWindows() ? 0 : (int)f.UnixFileMode & 0x1FF;
            long micros = (f.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks / 10;
            string sha;
            using (var s = f.OpenRead()) sha = Convert.ToHexStringLower(SHA256.HashData(s));
            lines.Add($"{rel} {f.Length} {Convert.ToString(mode, 8)} {micros} {sha}");
        }
        lines.Sort(StringComparer.Ordinal);
        return string.Join('\n', lines);
    }

    /// <summary>Files under <paramref name="root"/> (recursively), for "nothing was written there" checks.</summary>
    public static IReadOnlyList<string> AllFiles(string root) =>
        Directory.Exists(root) ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).ToList() : [];
}
