namespace Dt.Silo.Configuration;

/// <summary>
/// What the data directory held before a start, so that a start that fails (a port in use) leaves it as it was: the
/// directory itself, or the entries in it, that the failed start created are removed. Entries that were there are
/// never touched.
/// </summary>
internal sealed class DataDirSnapshot
{
    private readonly string _path;
    private readonly HashSet<string>? _entries; // null: the directory did not exist

    private DataDirSnapshot(string path, HashSet<string>? entries)
    {
        _path = path;
        _entries = entries;
    }

    public static DataDirSnapshot Take(string path)
    {
        string full = Path.GetFullPath(path);
        return new DataDirSnapshot(full, Directory.Exists(full) ? Directory.GetFileSystemEntries(full).ToHashSet(StringComparer.Ordinal) : null);
    }

    public void RemoveWhatIsNew()
    {
        try
        {
            if (!Directory.Exists(_path)) return;
            if (_entries is null)
            {
                Directory.Delete(_path, recursive: true);
                return;
            }
            foreach (var entry in Directory.GetFileSystemEntries(_path).Where(e => !_entries.Contains(e)))
            {
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the start already failed and said why; a leftover empty log is harmless.
        }
    }
}
