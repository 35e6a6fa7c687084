using System.Text.RegularExpressions;
using Dt.Replication;

namespace Dt.Maps;

/// <summary>
/// Where a node keeps its shared maps (part of the node's store, so a node restarted with the same store comes back
/// with its maps and goes on with the same writer id; a node started with a new store starts empty as a new writer).
/// </summary>
internal sealed class MapStore
{
    /// <summary>This node's id as a writer of map entries (the tie-break of the conflict rule).</summary>
    public Guid WriterId { get; } = Guid.NewGuid();

    internal Dictionary<string, MapState> Maps { get; } = new(StringComparer.Ordinal);
}

/// <summary>One write of a map key: the winner held for the key, or a deletion marker (<see cref="Value"/> null).</summary>
internal sealed class MapItem(string key, Guid writer, long version, ulong hlc, byte[]? value)
{
    public string Key { get; } = key;
    public Guid Writer { get; } = writer;
    /// <summary>Position in the writer's own sequence of writes to this map.</summary>
    public long Version { get; } = version;
    public ulong Hlc { get; } = hlc;
    public byte[]? Value { get; } = value;
    public bool Deleted => Value is null;

    /// <summary>The conflict rule: greater hybrid logical clock wins, then greater writer id.</summary>
    public bool Beats(MapItem other) => Hlc != other.Hlc ? Hlc > other.Hlc : Writer.CompareTo(other.Writer) > 0;

    /// <summary>A 64-bit fingerprint of this write, summed into the map's digest.</summary>
    public ulong Fingerprint()
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in Key) h = (h ^ c) * 1099511628211UL;
        h = (h ^ Hlc) * 1099511628211UL;
        Span<byte> w = stackalloc byte[16];
        Writer.TryWriteBytes(w);
        foreach (byte b in w) h = (h ^ b) * 1099511628211UL;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        return h;
    }
}

/// <summary>What a node holds of one writer's writes to a map: every write up to <see cref="Max"/> is reflected.</summary>
internal sealed class WriterLog
{
    private static readonly Comparer<MapItem> ByVersion = Comparer<MapItem>.Create((a, b) => a.Version.CompareTo(b.Version));

    public long Max { get; set; }

    /// <summary>Highest version of a deletion marker of this writer that was forgotten.</summary>
    public long Floor { get; set; }

    public SortedSet<MapItem> Items { get; } = new(ByVersion);

    public IEnumerable<MapItem> After(long version)
    {
        if (Items.Count == 0 || version >= Items.Max!.Version) return [];
        return Items.GetViewBetween(Probe(version + 1), Probe(long.MaxValue));
    }

    private static MapItem Probe(long v) => new("", Guid.Empty, v, 0, null);
}

/// <summary>
/// One shared map on a node: per key the winning write (values and deletion markers), indexed per writer by version
/// so that a peer's version vector tells exactly which writes it lacks. Not thread-safe (store lock).
/// </summary>
internal sealed partial class MapState(string name)
{
    public string Name { get; } = name;

    public Dictionary<string, MapItem> Items { get; } = new(StringComparer.Ordinal);

    public Dictionary<Guid, WriterLog> Writers { get; } = [];

    public int LiveCount { get; private set; }

    public int MarkerCount => Items.Count - LiveCount;

    public ulong DigestSum { get; private set; }

    public bool ReadyAnnounced { get; set; }

    public WriterLog Log(Guid writer)
    {
        if (!Writers.TryGetValue(writer, out var log)) Writers[writer] = log = new WriterLog();
        return log;
    }

    /// <summary>Applies a write by the conflict rule; returns whether it won, and the write it replaced.</summary>
    public (bool Won, MapItem? Old) Apply(MapItem item)
    {
        var old = Items.GetValueOrDefault(item.Key);
        if (old is not null && !item.Beats(old)) return (false, old);
        if (old is not null) Drop(old);
        Items[item.Key] = item;
        Log(item.Writer).Items.Add(item);
        if (!item.Deleted)
        {
            LiveCount++;
            DigestSum += item.Fingerprint();
        }
        return (true, old);
    }

    /// <summary>Removes a held write (overwritten, or a forgotten deletion marker).</summary>
    public void Drop(MapItem item)
    {
        if (!Items.Remove(item.Key)) return;
        if (Writers.TryGetValue(item.Writer, out var log)) log.Items.Remove(item);
        if (!item.Deleted)
        {
            LiveCount--;
            DigestSum -= item.Fingerprint();
        }
    }

    public string Digest => $"{LiveCount:x}-{DigestSum:x16}";

    public static bool IsValidName(string? name) => name is { Length: > 0 and <= 128 } && NameRegex().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9._:/-]+$")]
    private static partial Regex NameRegex();
}
