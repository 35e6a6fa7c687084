using Dt.Model;
namespace Dt.Replication;

/// <summary>
/// The version of an object's latest change: when (hybrid logical clock), by which master, and whether it removed
/// the object. Versions are totally ordered (time, then author, then remove over add), so every node picks the
/// same winner for concurrent changes: last writer wins.
/// </summary>
internal readonly record struct EntryVersion(ulong Hlc, Guid Author, bool Removed) : IComparable<EntryVersion>
{
    public int CompareTo(EntryVersion other)
    {
        int c = Hlc.CompareTo(other.Hlc);
        if (c != 0) return c;
        c = Author.CompareTo(other.Author);
        if (c != 0) return c;
        return Removed.CompareTo(other.Removed);
    }

    public static bool operator >(EntryVersion a, EntryVersion b) => a.CompareTo(b) > 0;

    public static bool operator <(EntryVersion a, EntryVersion b) => a.CompareTo(b) < 0;

    /// <summary>A 64-bit fingerprint of (hash, version) summed into the reconciliation tree.</summary>
    public ulong Fingerprint(in ObjectHash hash) => Fingerprint(hash.A);

    /// <summary>The fingerprint from the hash's first 64 bits (all it uses).</summary>
    public ulong Fingerprint(ulong hashHead) => Fingerprint(hashHead, FingerprintKey(Hlc, Author, Removed));

    /// <summary>The part of a fingerprint that depends on the version only: the same for every member of a batch that adds (or removes).</summary>
    public static ulong FingerprintKey(ulong hlc, Guid author, bool removed)
    {
        Span<byte> g = stackalloc byte[16];
        author.TryWriteBytes(g);
        ulong a = BitConverter.ToUInt64(g), b = BitConverter.ToUInt64(g[8..]);
        return Mix(hlc + 0x9E3779B97F4A7C15UL) ^ Mix(a + 0x632BE59BD9B4E019UL) ^ Mix(b ^ (removed ? 0xD6E8FEB86659FD93UL : 0x8CB92BA72F3D8DD7UL));
    }

    /// <summary>The fingerprint from the hash's first 64 bits and the version's <see cref="FingerprintKey"/>.</summary>
    public static ulong Fingerprint(ulong hashHead, ulong key) => Mix(hashHead ^ key);

    /// <summary>SplitMix64 finalizer: a cheap, well-mixed bijection.</summary>
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>
/// One change to a table: the object's hash, the version, the canonical JSON for adds (empty for removals and in
/// (hash, version) summaries), and the signed batch it belongs to with its index there (null only in summaries).
/// The JSON is a view of memory nobody overwrites while the change is in use: a table's slab, a log record's own
/// buffer, a caller's array, or a received frame's chunks, which go back to a pool only once the frame was applied,
/// relayed and journaled (see <see cref="FrameChunks"/>): whoever keeps a received change's JSON longer copies it.
/// </summary>
internal readonly record struct Change(ObjectHash Hash, EntryVersion Version, ReadOnlyMemory<byte> Json, ChangeBatch? Batch = null, int Member = -1);
