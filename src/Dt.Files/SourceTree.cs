namespace Dt.Files;

/// <summary>A regular file found under a published directory, with its relative '/'-separated path.</summary>
public sealed record SourceFile(string Path, string FullPath, long Size, long ModifiedMicros, int Mode);

/// <summary>
/// Walks a directory for publishing: regular files only, never following symbolic links (a link is skipped with a
/// reason, so a publish never leaves the directory), names a mirror would refuse skipped the same way; sorted by path.
/// </summary>
public static class SourceTree
{
    public static List<SourceFile> Scan(string root, Action<string, string> skipped)
    {
        var dir = new DirectoryInfo(root);
        if (!dir.Exists) throw new FileSyncException($"directory not found: {root}");
        var files = new List<SourceFile>();
        Walk(dir, "", files, skipped);
        files.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return files;
    }

    public static long MicrosOf(DateTime utc) => (utc.ToUniversalTime() - DateTime.UnixEpoch).Ticks / 10;

    public static int ModeOf(string path) => OperatingSystem.IsWindows() ? 0x1A4 /* 644 */ : (int)File.GetUnixFileMode(path) & 0x1FF;

    private static void Walk(DirectoryInfo dir, string prefix, List<SourceFile> files, Action<string, string> skipped)
    {
        foreach (var entry in dir.EnumerateFileSystemInfos())
        {
            string rel = prefix + entry.Name;
            if (entry.LinkTarget is not null)
            {
                skipped(rel, "a symbolic link (not followed)");
                continue;
            }
            if (FileManifest.PathError(rel) is { } error)
            {
                skipped(rel, error);
                continue;
            }
            if (entry is DirectoryInfo sub)
            {
                Walk(sub, rel + "/", files, skipped);
            }
            else if (entry is FileInfo f && (f.Attributes & (FileAttributes.Device | FileAttributes.ReparsePoint)) == 0)
            {
                files.Add(new SourceFile(rel, f.FullName, f.Length, MicrosOf(f.LastWriteTimeUtc), ModeOf(f.FullName)));
            }
            else
            {
                skipped(rel, "not a regular file");
            }
        }
    }
}
