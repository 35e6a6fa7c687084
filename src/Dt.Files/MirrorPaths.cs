namespace Dt.Files;

/// <summary>
/// Where a manifest path lands inside a mirror, or why it may not: the path must be relative and plain (see
/// <see cref="FileManifest.PathError"/>), and no directory on the way may be a symbolic link, so a file is never
/// written outside the mirror whatever the manifest or the directory holds.
/// </summary>
public sealed class MirrorPaths(string root)
{
    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>The full path for <paramref name="relative"/>; throws <see cref="FileSyncException"/> if it would leave the mirror.</summary>
    public string Resolve(string relative, bool createDirectories)
    {
        if (FileManifest.PathError(relative) is { } error) throw new FileSyncException($"path '{TableNames.Shown(relative)}' refused: {error}");
        string current = Root;
        var parts = relative.Split('/');
        for (int i = 0; i < parts.Length - 1; i++)
        {
            current = Path.Combine(current, parts[i]);
            var info = new DirectoryInfo(current);
            if (info.LinkTarget is not null)
                throw new FileSyncException($"path '{relative}' refused: '{string.Join('/', parts[..(i + 1)])}' is a symbolic link in the mirror");
            if (!info.Exists)
            {
                if (File.Exists(current)) throw new FileSyncException($"path '{relative}' refused: '{string.Join('/', parts[..(i + 1)])}' is a file in the mirror");
                if (createDirectories) Directory.CreateDirectory(current);
            }
        }
        string full = Path.Combine(current, parts[^1]);
        var target = new FileInfo(full);
        if (target.LinkTarget is not null) throw new FileSyncException($"path '{relative}' refused: it is a symbolic link in the mirror");
        if (Directory.Exists(full)) throw new FileSyncException($"path '{relative}' refused: it is a directory in the mirror");
        // The checks above are the rule; this one guards against a mistake in them.
        if (!Path.GetFullPath(full).StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new FileSyncException($"path '{relative}' refused: it resolves outside the mirror");
        return full;
    }
}
