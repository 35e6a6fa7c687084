namespace Dt.Gossip;

/// <summary>One key of an owner as a node holds it. <see cref="DeadlineMs"/>: module time at which a value expires or a
/// deletion marker is forgotten (0 = never).</summary>
internal sealed class KeyEntry(string key, long version, EntryKind kind, byte[]? value, long deadlineMs)
{
    public string Key { get; } = key;
    public long Version { get; } = version;
    public EntryKind Kind { get; set; } = kind;
    public byte[]? Value { get; set; } = value;
    public long DeadlineMs { get; set; } = deadlineMs;
    public bool IsLive => Kind == EntryKind.Set;
}

/// <summary>
/// What a node holds of one owner's state (its own, or a replica of a peer's): the keys, indexed by key and by version,
/// the generation, the highest version held (<see cref="Version"/>: every change of the owner up to it is reflected),
/// the heartbeat, and the floor below which deletion markers were forgotten. Not thread-safe (module lock).
/// </summary>
internal sealed class OwnerState(long generation)
{
    private static readonly Comparer<KeyEntry> ByVersionComparer = Comparer<KeyEntry>.Create((a, b) => a.Version.CompareTo(b.Version));

    private readonly Dictionary<string, KeyEntry> _keys = new(StringComparer.Ordinal);
    private readonly SortedSet<KeyEntry> _byVersion = new(ByVersionComparer);

    public long Generation { get; set; } = generation;

    public long Version { get; set; }

    public long Heartbeat { get; set; }

    /// <summary>Highest version of a deletion marker that was forgotten: a peer behind it gets a reset.</summary>
    public long Floor { get; set; }

    public int Count => _keys.Count;

    public int LiveCount { get; private set; }

    public IEnumerable<KeyEntry> Entries => _keys.Values;

    public KeyEntry? Get(string key) => _keys.GetValueOrDefault(key);

    /// <summary>Entries with a version above <paramref name="version"/>, in version order.</summary>
    public IEnumerable<KeyEntry> After(long version)
    {
        if (_byVersion.Count == 0 || version >= _byVersion.Max!.Version) return [];
        return _byVersion.GetViewBetween(Probe(version + 1), Probe(long.MaxValue));
    }

    /// <summary>The deletion marker with the lowest version, if any (dropped first when the owner is full).</summary>
    public KeyEntry? OldestMarker() => _byVersion.FirstOrDefault(e => !e.IsLive);

    /// <summary>Stores an entry in place of the key's current one; returns the replaced entry.</summary>
    public KeyEntry? Put(KeyEntry entry)
    {
        var old = Remove(entry.Key);
        _keys[entry.Key] = entry;
        _byVersion.Add(entry);
        if (entry.IsLive) LiveCount++;
        return old;
    }

    public KeyEntry? Remove(string key)
    {
        if (!_keys.Remove(key, out var old)) return null;
        _byVersion.Remove(old);
        if (old.IsLive) LiveCount--;
        return old;
    }

    /// <summary>Turns a live entry into a deletion marker of the same version.</summary>
    public void MarkDead(KeyEntry entry, EntryKind kind, long deadlineMs)
    {
        if (entry.IsLive) LiveCount--;
        entry.Kind = kind;
        entry.Value = null;
        entry.DeadlineMs = deadlineMs;
    }

    /// <summary>Drops every key (a new generation, or a reset).</summary>
    public List<KeyEntry> Clear()
    {
        var all = _keys.Values.ToList();
        _keys.Clear();
        _byVersion.Clear();
        LiveCount = 0;
        Version = 0;
        Floor = 0;
        return all;
    }

    private static KeyEntry Probe(long version) => new("", version, EntryKind.Deleted, null, 0);
}
