namespace Dt.Files;

/// <summary>A manifest as a node holds it, with its Dt object hash.</summary>
public sealed record FileSetEntry(string ObjectHash, FileManifest Manifest);

/// <summary>A manifest object that is not a valid manifest (a forged or damaged object), and why.</summary>
public sealed record RefusedManifest(string ObjectHash, string Reason);

/// <summary>
/// A file set as one node holds it now: for each path the winning manifest (greatest version, then greatest object
/// hash: the same choice on every node), the manifests it supersedes (left over while a publish is under way), and
/// the objects that are no valid manifest.
/// </summary>
public sealed class FileSetSnapshot
{
    private FileSetSnapshot(Dictionary<string, FileSetEntry> files, List<FileSetEntry> superseded, List<RefusedManifest> refused)
    {
        Files = files;
        Superseded = superseded;
        Refused = refused;
    }

    public IReadOnlyDictionary<string, FileSetEntry> Files { get; }

    public IReadOnlyList<FileSetEntry> Superseded { get; }

    public IReadOnlyList<RefusedManifest> Refused { get; }

    public long TotalBytes => Files.Values.Sum(f => f.Manifest.Size);

    /// <summary>The same snapshot with these entries (manifests whose chunk lists were read).</summary>
    internal FileSetSnapshot With(IEnumerable<FileSetEntry> files, IEnumerable<FileSetEntry> superseded) =>
        new(files.ToDictionary(e => e.Manifest.Path, StringComparer.Ordinal), superseded.ToList(), Refused.ToList());

    public static async Task<FileSetSnapshot> LoadAsync(IDtGrainFactory dt, string set, CancellationToken ct)
    {
        FileSetNames.Require(set);
        return From(await ReadAllAsync(dt.GetTable(FileSetNames.ManifestTable(set)).ListObjects(ct), ct));
    }

    public static FileSetSnapshot From(IEnumerable<ObjectRecord> objects)
    {
        var files = new Dictionary<string, FileSetEntry>(StringComparer.Ordinal);
        var superseded = new List<FileSetEntry>();
        var refused = new List<RefusedManifest>();
        foreach (var o in objects)
        {
            if (!FileManifest.TryParse(o.Value, out var m, out var error))
            {
                refused.Add(new RefusedManifest(o.Hash, error!));
                continue;
            }
            var entry = new FileSetEntry(o.Hash, m!);
            if (files.TryGetValue(m!.Path, out var held))
            {
                bool wins = m.Version > held.Manifest.Version || (m.Version == held.Manifest.Version && string.CompareOrdinal(o.Hash, held.ObjectHash) > 0);
                superseded.Add(wins ? held : entry);
                if (!wins) continue;
            }
            files[m.Path] = entry;
        }
        return new FileSetSnapshot(files, superseded, refused);
    }

    private static async Task<List<ObjectRecord>> ReadAllAsync(IAsyncEnumerable<ObjectRecord> items, CancellationToken ct)
    {
        var all = new List<ObjectRecord>();
        await foreach (var o in items.WithCancellation(ct)) all.Add(o);
        return all;
    }
}
