namespace Dt.Replication;

/// <summary>
/// The replicated state of one table: for every object hash ever changed (within tombstone retention), the latest
/// change. An object is in the table when its latest change is an add. Keeps, incrementally, what reconciliation
/// needs: per-range counts and fingerprint sums over a 16-ary tree of hash prefixes (the first
/// <see cref="LeafBits"/> bits in arrays, deeper ranges by a scan), and a digest of the live set.
/// Callers hold <see cref="Sync"/> around every call.
/// </summary>
public sealed class TableState(string name)
{
    public const int LeafBits = 12;
    private const int Leaves = 1 << LeafBits;

    private readonly Dictionary<ObjectHash, Stored> _entries = new();
    private readonly Dictionary<(Guid, ulong), ChangeBatch> _batches = new();
    private ulong[]? _leafSum;
    private int[]? _leafCount;
    private ulong _l0, _l1, _l2, _l3, _syncSum;
    private long _liveCount;

    public string Name { get; } = name;

    public Lock Sync { get; } = new();

    public long LiveCount => _liveCount;

    public int EntryCount => _entries.Count;

    /// <summary>Signed batches still backing at least one held entry.</summary>
    public int BatchCount => _batches.Count;

    public IEnumerable<ChangeBatch> Batches => _batches.Values;

    public bool TryGetBatch(Guid author, ulong hlc, out ChangeBatch batch) => _batches.TryGetValue((author, hlc), out batch!);

    public ulong SyncDigest => _syncSum;

    public ulong LiveJsonBytes { get; private set; }

    /// <summary>Count and the four lane sums of live object hashes: equal on nodes holding the same objects.</summary>
    public string LiveDigest
    {
        get
        {
            Span<byte> b = stackalloc byte[32];
            new ObjectHash(_l0, _l1, _l2, _l3).Write(b);
            return Convert.ToHexStringLower(b);
        }
    }

    /// <summary>A held entry: the batch and member that wrote it (its version follows from them) and its JSON if live.</summary>
    public readonly record struct Stored(byte[]? Json, ChangeBatch Batch, int Member)
    {
        public EntryVersion Version => Batch.VersionOf(Batch.Members[Member]);
    }

    /// <summary>Makes room for about <paramref name="entries"/> entries at once (a bulk sync announces its size).</summary>
    public void Reserve(int entries)
    {
        if (entries > _entries.Count) _entries.EnsureCapacity(Math.Min(entries, 1 << 26));
    }

    /// <summary>Applies a change if it is newer than what is held. Returns what it did to the live set.</summary>
    public ApplyOutcome Apply(in Change change, out byte[]? previousJson)
    {
        previousJson = null;
        bool had = _entries.TryGetValue(change.Hash, out var old);
        if (had && old.Version.CompareTo(change.Version) >= 0) return ApplyOutcome.Stale;
        if (!change.Version.Removed && change.Json is null) throw new ArgumentException("an add carries its JSON");
        if (change.Batch is null || change.Member < 0 || change.Member >= change.Batch.Members.Length
            || change.Batch.Members[change.Member].Hash != change.Hash || change.Batch.Members[change.Member].Removed != change.Version.Removed)
            throw new ArgumentException("a change carries its batch and is the member of it that it claims to be");
        // One instance per batch, so its reference count covers every entry it backs.
        if (!_batches.TryGetValue(change.Batch.Key, out var batch)) _batches[change.Batch.Key] = batch = change.Batch;
        batch.LiveRefs++;

        int leaf = (int)change.Hash.Prefix(LeafBits);
        _leafSum ??= new ulong[Leaves];
        _leafCount ??= new int[Leaves];
        if (had)
        {
            ulong oldFp = old.Version.Fingerprint(change.Hash);
            _leafSum[leaf] -= oldFp;
            _syncSum -= oldFp;
            _leafCount[leaf]--;
            if (!old.Version.Removed) RemoveLive(change.Hash, old.Json!);
            Release(old.Batch);
        }
        ulong fp = change.Version.Fingerprint(change.Hash);
        _leafSum[leaf] += fp;
        _syncSum += fp;
        _leafCount[leaf]++;
        _entries[change.Hash] = new Stored(change.Version.Removed ? null : change.Json, batch, change.Member);
        if (!change.Version.Removed) AddLive(change.Hash, change.Json!);

        bool wasLive = had && !old.Version.Removed;
        if (wasLive) previousJson = old.Json;
        return (wasLive, !change.Version.Removed) switch
        {
            (false, true) => ApplyOutcome.Added,
            (true, false) => ApplyOutcome.Removed,
            (true, true) => ApplyOutcome.Replaced,
            _ => ApplyOutcome.TombstoneOnly,
        };
    }

    /// <summary>Drops an entry outright (no tombstone): used for entries that no trusted master wrote.</summary>
    public bool Forget(in ObjectHash hash, out byte[]? previousJson)
    {
        previousJson = null;
        if (!_entries.Remove(hash, out var old)) return false;
        ulong fp = old.Version.Fingerprint(hash);
        int leaf = (int)hash.Prefix(LeafBits);
        _leafSum![leaf] -= fp;
        _leafCount![leaf]--;
        _syncSum -= fp;
        if (!old.Version.Removed)
        {
            RemoveLive(hash, old.Json!);
            previousJson = old.Json;
        }
        Release(old.Batch);
        return true;
    }

    private void Release(ChangeBatch batch)
    {
        if (--batch.LiveRefs <= 0) _batches.Remove(batch.Key);
    }

    public bool TryGet(in ObjectHash hash, out Stored stored) => _entries.TryGetValue(hash, out stored);

    public bool TryGetLive(in ObjectHash hash, out byte[] json)
    {
        if (_entries.TryGetValue(hash, out var s) && !s.Version.Removed)
        {
            json = s.Json!;
            return true;
        }
        json = [];
        return false;
    }

    public IEnumerable<KeyValuePair<ObjectHash, Stored>> All() => _entries;

    /// <summary>Copies the live objects (hash, JSON); the copy may be enumerated without the lock.</summary>
    public List<(ObjectHash Hash, byte[] Json)> SnapshotLive()
    {
        var list = new List<(ObjectHash, byte[])>((int)_liveCount);
        foreach (var (h, s) in _entries)
            if (!s.Version.Removed) list.Add((h, s.Json!));
        return list;
    }

    /// <summary>
    /// For each parent range at <paramref name="depth"/> (prefix of 4·depth bits), the count and fingerprint sum of
    /// its 16 child ranges, in the order of <paramref name="parents"/>.
    /// </summary>
    public RangeSummary[] Children(int depth, IReadOnlyList<ulong> parents)
    {
        var result = new RangeSummary[parents.Count];
        int childBits = 4 * (depth + 1);
        if (childBits <= LeafBits)
        {
            for (int i = 0; i < parents.Count; i++)
            {
                var r = result[i] = new RangeSummary(parents[i]);
                if (_leafSum is null) continue;
                int span = 1 << (LeafBits - childBits);
                for (int c = 0; c < 16; c++)
                {
                    ulong childPrefix = (parents[i] << 4) | (uint)c;
                    int start = (int)(childPrefix << (LeafBits - childBits));
                    for (int l = start; l < start + span; l++)
                    {
                        r.Counts[c] += _leafCount![l];
                        r.Sums[c] += _leafSum[l];
                    }
                }
            }
            return result;
        }

        var index = new Dictionary<ulong, int>(parents.Count);
        for (int i = 0; i < parents.Count; i++)
        {
            result[i] = new RangeSummary(parents[i]);
            index[parents[i]] = i;
        }
        int parentBits = 4 * depth;
        foreach (var (h, s) in _entries)
        {
            if (!index.TryGetValue(h.Prefix(parentBits), out int i)) continue;
            int c = (int)(h.Prefix(childBits) & 15);
            result[i].Counts[c]++;
            result[i].Sums[c] += s.Version.Fingerprint(h);
        }
        return result;
    }

    /// <summary>Count and sum of the whole table (the root range).</summary>
    public (long Count, ulong Sum) Root => (_entries.Count, _syncSum);

    /// <summary>Entries whose hash has one of <paramref name="prefixes"/> (4·depth bits).</summary>
    public List<Change> InRanges(int depth, IReadOnlyCollection<ulong> prefixes, bool withJson)
    {
        var set = prefixes as HashSet<ulong> ?? new HashSet<ulong>(prefixes);
        var list = new List<Change>();
        int bits = 4 * depth;
        foreach (var (h, s) in _entries)
            if (set.Contains(h.Prefix(bits)))
                list.Add(new Change(h, s.Version, withJson ? s.Json : null, s.Batch, s.Member));
        return list;
    }

    /// <summary>Removes tombstones older than <paramref name="hlcBefore"/>; returns how many.</summary>
    public int PurgeTombstones(ulong hlcBefore)
    {
        List<ObjectHash>? old = null;
        foreach (var (h, s) in _entries)
            if (s.Version.Removed && s.Version.Hlc < hlcBefore) (old ??= []).Add(h);
        if (old is null) return 0;
        foreach (var h in old) Forget(h, out _);
        return old.Count;
    }

    private void AddLive(in ObjectHash h, byte[] json)
    {
        _l0 += h.A; _l1 += h.B; _l2 += h.C; _l3 += h.D;
        _liveCount++;
        LiveJsonBytes += (ulong)json.Length;
    }

    private void RemoveLive(in ObjectHash h, byte[] json)
    {
        _l0 -= h.A; _l1 -= h.B; _l2 -= h.C; _l3 -= h.D;
        _liveCount--;
        LiveJsonBytes -= (ulong)json.Length;
    }
}

public enum ApplyOutcome
{
    /// <summary>The change was not newer than the held one; nothing changed (and it is not relayed).</summary>
    Stale,
    Added,
    Removed,
    Replaced,
    /// <summary>A removal of an object this node never held: only the tombstone is stored.</summary>
    TombstoneOnly,
}

/// <summary>Counts and fingerprint sums of the 16 children of one range.</summary>
public sealed class RangeSummary(ulong prefix)
{
    public ulong Prefix { get; } = prefix;

    public long[] Counts { get; } = new long[16];

    public ulong[] Sums { get; } = new ulong[16];
}
