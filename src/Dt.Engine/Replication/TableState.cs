using System.Runtime.InteropServices;
using Dt.Model;
namespace Dt.Replication;

/// <summary>
/// Hears, under the table's lock and so in apply order, what applied changes did to the live set: a run of them at a
/// time (a batch's worth at most <see cref="TableState.HeardPerCall"/>), so a listener pays its own costs (a lock, a
/// clock reading) once per run and not once per object.
/// </summary>
internal interface ITableObserver
{
    void OnApplied(TableState table, ReadOnlySpan<AppliedChange> applied, string origin);
}

/// <summary>
/// A change that altered the live set (<see cref="ApplyOutcome.Added"/>, <see cref="ApplyOutcome.Replaced"/> or
/// <see cref="ApplyOutcome.Removed"/>). <see cref="Json"/> is the slab's copy of what was stored for an add or a
/// replace, and what was removed for a removal: views that stay valid, so a listener keeps no frame's bytes.
/// </summary>
internal readonly record struct AppliedChange(ApplyOutcome Outcome, ObjectHash Hash, ReadOnlyMemory<byte> Json);

/// <summary>
/// The replicated state of one table: for every object hash ever changed (within tombstone retention), the latest
/// change. An object is in the table when its latest change is an add. Keeps, incrementally, what reconciliation
/// needs: per-range counts and fingerprint sums over a 16-ary tree of hash prefixes (the first
/// <see cref="LeafBits"/> bits in arrays, deeper ranges by a scan), and a digest of the live set.
/// Object JSON lives in the table's <see cref="JsonSlab"/>; what is handed out are read-only views of it, which
/// stay valid (the slab never overwrites bytes) and need no lock.
/// Thread-safe: every method takes the table's own lock; what it returns is a copy or such a view.
/// </summary>
internal sealed class TableState(string name)
{
    public const int LeafBits = 12;
    private const int Leaves = 1 << LeafBits;

    private readonly Lock _sync = new();
    private readonly CompactIndex<Stored> _entries = new();
    private readonly Dictionary<(Guid, ulong), ChangeBatch> _batches = new();
    private ChangeBatch? _lastBatch; // held in _batches whenever set
    private ChangeBatch? _lastHandedIn; // the instance the last applied change carried, which maps to _lastBatch
    private readonly JsonSlab _slab = new();
    private ulong[]? _leafSum;
    private int[]? _leafCount;
    private ulong _l0, _l1, _l2, _l3, _syncSum;
    private long _liveCount;
    private ulong _liveJsonBytes;
    private readonly List<AppliedChange> _heard = []; // what the observer has yet to hear (under the lock)

    /// <summary>Most changes an observer hears in one call (bounds the list they wait in).</summary>
    public const int HeardPerCall = 1024;

    public string Name { get; } = name;

    public long LiveCount { get { lock (_sync) return _liveCount; } }

    public int EntryCount { get { lock (_sync) return _entries.Count; } }

    /// <summary>Entries the index has room for (tests).</summary>
    internal int IndexCapacity { get { lock (_sync) return _entries.Capacity; } }

    /// <summary>Signed batches still backing at least one held entry.</summary>
    public int BatchCount { get { lock (_sync) return _batches.Count; } }

    public ulong LiveJsonBytes { get { lock (_sync) return _liveJsonBytes; } }

    /// <summary>Bytes of the slab's segments (live JSON, dead bytes awaiting compaction, and the unfilled tail).</summary>
    public long SlabBytes { get { lock (_sync) return _slab.CapacityBytes; } }

    public int SlabSegments { get { lock (_sync) return _slab.SegmentCount; } }

    /// <summary>Count and fingerprint sum of every entry (the root range of reconciliation).</summary>
    public (long Count, ulong Sum) Root { get { lock (_sync) return (_entries.Count, _syncSum); } }

    /// <summary>Count and the four lane sums of live object hashes: equal on nodes holding the same objects.</summary>
    public (long Count, string Digest) Summary()
    {
        lock (_sync)
        {
            Span<byte> b = stackalloc byte[32];
            new ObjectHash(_l0, _l1, _l2, _l3).Write(b);
            return (_liveCount, Convert.ToHexStringLower(b));
        }
    }

    public string LiveDigest => Summary().Digest;

    /// <summary>
    /// A held entry: the batch and member that wrote it (its version follows from them) and where its JSON is if
    /// live. 16 bytes: the member index (below <see cref="ChangeBatch.MaxMembers"/>) shares a word with the JSON's place.
    /// Its full hash is its batch's member (hashed from the JSON here when the batch is thin); only read under the lock.
    /// </summary>
    private readonly struct Stored : IKeyedByHash
    {
        public readonly ChangeBatch Batch;
        private readonly ulong _place;

        public Stored(JsonRef json, ChangeBatch batch, int member)
        {
            if ((uint)member >= 1u << JsonRef.SpareBits) throw new ArgumentOutOfRangeException(nameof(member), "a batch has at most 4,096 members");
            Batch = batch;
            _place = json.Pack(member);
        }

        public JsonRef Json => JsonRef.Unpack(_place);

        public int Member => (int)(_place & ((1u << JsonRef.SpareBits) - 1));

        public ObjectHash Hash => Batch.MemberAt(Member).Hash;

        public bool Removed => Batch.RemovedAt(Member);

        public EntryVersion Version => Batch.VersionOf(Removed);

        /// <summary>The entry's fingerprint, from its hash's first 64 bits (its index key).</summary>
        public ulong FingerprintFor(ulong hashHead) => Batch.Fingerprint(hashHead, Removed);
    }

    /// <summary>
    /// What a peer's changes must pass besides being newer: old removals are ignored, a full table takes no new
    /// objects, and a batch the table does not hold yet must be signed (<paramref name="Signed"/>, asked under the lock:
    /// the caller's check may have passed on a held batch of the same signature that was let go of since).
    /// </summary>
    public readonly record struct PeerRules(ulong TombstoneFloor, long MaxObjects, Func<ChangeBatch, bool>? Signed = null);

    public bool TryGetBatch(Guid author, ulong hlc, out ChangeBatch batch)
    {
        lock (_sync) return _batches.TryGetValue((author, hlc), out batch!);
    }

    /// <summary>The batches backing held entries (those <paramref name="which"/> accepts, if given), copied.</summary>
    public List<ChangeBatch> SnapshotBatches(Func<ChangeBatch, bool>? which = null)
    {
        lock (_sync)
        {
            if (which is null) return [.. _batches.Values];
            var list = new List<ChangeBatch>();
            foreach (var b in _batches.Values)
                if (which(b)) list.Add(b);
            return list;
        }
    }

    /// <summary>The clock of the newest held change of each master (empty when the table holds nothing).</summary>
    public Dictionary<Guid, ulong> NewestByAuthor()
    {
        var newest = new Dictionary<Guid, ulong>();
        lock (_sync)
            foreach (var b in _batches.Values)
            {
                ref var hlc = ref CollectionsMarshal.GetValueRefOrAddDefault(newest, b.Author, out _);
                if (b.Hlc > hlc) hlc = b.Hlc;
            }
        return newest;
    }

    /// <summary>
    /// Gives back what a quiet table need not keep: the index's room beyond its entries (an index grown by adds
    /// doubles, so it may hold up to twice its entries), and the member hashes of its thick batches that its live
    /// objects' JSON gives (see <see cref="ChangeBatch"/>): 29 of 33 bytes per object; and the slab's spare segment.
    /// </summary>
    public void TrimExcess()
    {
        lock (_sync)
        {
            _entries.TrimExcess();
            _slab.DropSpare();
            _thickMembers = 0;
        }
        ThinBatches();
    }

    /// <summary>Members of the thick batches taken in since the last thinning pass (and still held).</summary>
    public int ThickMembers { get { lock (_sync) return _thickMembers; } }

    private int _thickMembers;

    /// <summary>
    /// Thick members a table takes in before <see cref="ThinBatchesIfDue"/> thins them, at least (about 2 MB of
    /// hashes); and at least half its entries, so a busy table's passes cost a bounded share of its work.
    /// </summary>
    public const int ThinAfterMembers = 1 << 16;

    /// <summary>Makes the held batches thin if enough of them are thick (a busy table is never quiet for the trim).</summary>
    public bool ThinBatchesIfDue()
    {
        lock (_sync)
        {
            if (_thickMembers < Math.Max(ThinAfterMembers, _entries.Count / 2)) return false;
            _thickMembers = 0;
        }
        ThinBatches();
        return true;
    }

    /// <summary>
    /// Makes every held thick batch thin, one batch per hold of the lock (a batch's members are looked up in the
    /// index: about 0.2 ms for a batch of 4,096), so readers and writers wait for one batch, never for the whole table.
    /// </summary>
    private void ThinBatches()
    {
        List<ChangeBatch> thick;
        lock (_sync) thick = [.. _batches.Values.Where(b => !b.IsThin && ReferenceEquals(b.HeldBy, this))];
        foreach (var b in thick)
            lock (_sync) ThinLocked(b);
    }

    /// <summary>
    /// Makes <paramref name="batch"/> thin if it is still held: a member whose add is a live entry of the index's
    /// dense array becomes that entry's position; the others keep their hash. A batch that would not shrink (mostly
    /// removals or superseded members: 4 bytes a member plus 33 per kept one) stays thick.
    /// </summary>
    private void ThinLocked(ChangeBatch batch)
    {
        if (batch.Thick is not { } members || !_batches.TryGetValue(batch.Key, out var held) || !ReferenceEquals(held, batch)) return;
        var where = new int[members.Length];
        int keep = 0;
        for (int i = 0; i < members.Length; i++)
        {
            if (i + PrefetchAhead < members.Length) _entries.Prefetch(members[i + PrefetchAhead].Hash);
            // The dense array holds at most one entry per 64-bit key (others overflow), and one that this member
            // wrote has this member's hash: the key and the (batch, member) reference settle it without hashing.
            int p = _entries.PositionOfKey(members[i].Hash.A);
            if (p >= 0)
            {
                ref readonly var s = ref _entries.ValueAt(p);
                if (ReferenceEquals(s.Batch, batch) && s.Member == i && !s.Removed)
                {
                    where[i] = p;
                    continue;
                }
            }
            where[i] = Unplaced;
            keep++;
        }
        if (4L * where.Length + 33L * keep >= 33L * where.Length) return;
        var kept = new BatchMember[keep];
        for (int i = 0, k = 0; i < where.Length; i++)
            if (where[i] == Unplaced)
            {
                kept[k] = members[i];
                where[i] = ~k++;
            }
        batch.BecomeThin(where, kept);
    }

    /// <summary>Not yet placed, while a batch is made thin.</summary>
    private const int Unplaced = int.MinValue;

    /// <summary>Member <paramref name="i"/> of a batch (thin ones are this table's): under the lock, hashing a live member's JSON.</summary>
    internal BatchMember MemberOf(ChangeBatch batch, int i)
    {
        lock (_sync) return MemberOfLocked(batch, i);
    }

    /// <summary>The members of <paramref name="batch"/> into <paramref name="into"/>, but those <paramref name="skip"/> marks (left as they are).</summary>
    internal void CopyMembers(ChangeBatch batch, Span<BatchMember> into, ReadOnlySpan<bool> skip)
    {
        lock (_sync)
            for (int i = 0; i < batch.Count; i++)
                if (skip.IsEmpty || !skip[i]) into[i] = MemberOfLocked(batch, i);
    }

    private BatchMember MemberOfLocked(ChangeBatch batch, int i)
    {
        if (batch.Thick is { } thick) return thick[i];
        if (!ReferenceEquals(batch.HeldBy, this)) return batch.HeldBy!.MemberOf(batch, i); // thin: only its holder reads it
        var thin = batch.Thin!;
        int w = thin.Where[i];
        return w < 0 ? thin.Kept[~w] : new BatchMember(ObjectHash.Of(_slab.Get(_entries.ValueAt(w).Json).Span), false);
    }

    /// <summary>A live member of a thin batch stops being its object's entry: it keeps its hash from now on.</summary>
    private static void KeepHash(ChangeBatch batch, int member, in ObjectHash hash)
    {
        if (batch.Thin is not { } thin || thin.Where[member] < 0) return;
        if (thin.KeptCount == thin.Kept.Length) Array.Resize(ref thin.Kept, Math.Max(4, thin.Kept.Length * 2));
        thin.Kept[thin.KeptCount] = new BatchMember(hash, false);
        thin.Where[member] = ~thin.KeptCount++;
    }

    /// <summary>Whether held member <paramref name="i"/> of <paramref name="held"/> is <paramref name="m"/> (a live member of a thin batch is never compared: see ApplyLocked).</summary>
    private static bool HeldMemberIs(ChangeBatch held, int i, in BatchMember m)
    {
        if (i >= held.Count) return false;
        if (held.Thick is { } thick) return thick[i] == m;
        int w = held.Thin!.Where[i];
        return w < 0 && held.Thin.Kept[~w] == m;
    }

    /// <summary>
    /// Makes room for about <paramref name="entries"/> entries at once (a bulk sync announces its size; a replay projects
    /// it): the index otherwise doubles its way there, copying every entry each time. Room beyond what fills is given
    /// back by <see cref="TrimExcess"/>.
    /// </summary>
    public void Reserve(int entries)
    {
        lock (_sync)
            if (entries > _entries.Count) _entries.EnsureCapacity(Math.Min(entries, 1 << 26));
    }

    /// <summary>Applies one change if it is newer than what is held; the observer hears what it did.</summary>
    public ApplyOutcome Apply(in Change change, string origin = "", ITableObserver? observer = null)
    {
        lock (_sync)
            try
            {
                return ApplyLocked(change, origin, observer);
            }
            finally
            {
                Tell(observer, origin);
            }
    }

    /// <summary>Applies changes (replay of the log, or tests) in order.</summary>
    public void ApplyAll(List<Change> changes)
    {
        // Over a span: a list's indexer is a generic method that a ReadyToRun image does not hold for Change, so a
        // fresh process (a restart's replay) would run it as tier-0 code.
        var span = CollectionsMarshal.AsSpan(changes);
        lock (_sync)
            for (int i = 0; i < span.Length; i++)
            {
                if (i + PrefetchAhead < span.Length) _entries.Prefetch(span[i + PrefetchAhead].Hash);
                ApplyLocked(span[i], "", null);
            }
    }

    /// <summary>How many changes ahead an apply loop prefetches the index (see <see cref="CompactIndex{T}.Prefetch"/>).</summary>
    private const int PrefetchAhead = CompactIndex<Stored>.PrefetchAhead;

    /// <summary>
    /// Applies a peer's changes of one batch under one lock, keeping <paramref name="rules"/>; the ones that changed
    /// the state go to <paramref name="applied"/>, adds refused because the table is full to <paramref name="refusedFull"/>.
    /// </summary>
    public void ApplyFromPeer(List<Change> changes, PeerRules rules, string origin, ITableObserver observer, List<Change> applied, List<Change> refusedFull)
    {
        lock (_sync)
            try
            {
                var span = CollectionsMarshal.AsSpan(changes); // as in ApplyAll
                for (int i = 0; i < span.Length; i++)
                {
                    if (i + PrefetchAhead < span.Length) _entries.Prefetch(span[i + PrefetchAhead].Hash);
                    ref readonly var c = ref span[i];
                    if (c.Version.Removed && c.Version.Hlc < rules.TombstoneFloor) continue;
                    if (!c.Version.Removed && _liveCount >= rules.MaxObjects && !IsLive(c.Hash))
                    {
                        refusedFull.Add(c);
                        continue;
                    }
                    if (ApplyLocked(c, origin, observer, rules.Signed) != ApplyOutcome.Stale) applied.Add(c);
                }
            }
            finally
            {
                Tell(observer, origin); // what was applied before a bad change is still heard
            }
    }

    /// <summary>
    /// A master's add: the objects not yet live (first of each hash) are signed in batches of at most
    /// <see cref="ChangeBatch.MaxMembers"/> by <paramref name="sign"/>, applied, and each batch handed to
    /// <paramref name="journal"/> with its applied changes, all under the lock so the log keeps apply order.
    /// Throws <see cref="DtException"/> (limit_reached) before changing anything if the table would exceed <paramref name="maxObjects"/>.
    /// </summary>
    public List<Change> AddLocal(ObjectHash[] hashes, IReadOnlyList<byte[]> json, long maxObjects, Func<BatchMember[], ChangeBatch> sign,
        ITableObserver observer, Action<ChangeBatch, List<Change>>? journal)
    {
        var changed = new List<Change>(hashes.Length);
        lock (_sync)
            try
            {
                var fresh = new List<int>(hashes.Length);
                var seen = new HashSet<ObjectHash>(hashes.Length);
                for (int i = 0; i < hashes.Length; i++)
                {
                    if (i + PrefetchAhead < hashes.Length) _entries.Prefetch(hashes[i + PrefetchAhead]);
                    if (!IsLive(hashes[i]) && seen.Add(hashes[i])) fresh.Add(i);
                }
                if (_liveCount + fresh.Count > maxObjects)
                    throw new DtException(DtErrorCodes.LimitReached, $"table '{Name}' would exceed {maxObjects} objects (Dt:MaxObjectsPerTable)");
                for (int start = 0; start < fresh.Count; start += ChangeBatch.MaxMembers)
                {
                    int count = Math.Min(ChangeBatch.MaxMembers, fresh.Count - start);
                    var members = new BatchMember[count];
                    for (int k = 0; k < count; k++) members[k] = new BatchMember(hashes[fresh[start + k]], false);
                    var batch = sign(members);
                    int before = changed.Count;
                    for (int k = 0; k < count; k++)
                    {
                        if (k + PrefetchAhead < count) _entries.Prefetch(members[k + PrefetchAhead].Hash);
                        var c = new Change(members[k].Hash, batch.VersionOf(members[k]), json[fresh[start + k]], batch, k);
                        if (ApplyLocked(c, "local", observer) != ApplyOutcome.Stale) changed.Add(c);
                    }
                    journal?.Invoke(batch, changed.GetRange(before, changed.Count - before));
                }
            }
            finally
            {
                Tell(observer, "local"); // what was applied before a failure is still heard
            }
        return changed;
    }

    /// <summary>A master's removal of a live object, signed by <paramref name="sign"/>; null if it is not live.</summary>
    public Change? RemoveLocal(in ObjectHash hash, Func<BatchMember[], ChangeBatch> sign, ITableObserver observer, Action<ChangeBatch, List<Change>>? journal)
    {
        lock (_sync)
        {
            if (!IsLive(hash)) return null;
            var batch = sign([new BatchMember(hash, true)]);
            var c = new Change(hash, batch.VersionOf(removed: true), null, batch, 0);
            ApplyLocked(c, "local", observer);
            Tell(observer, "local");
            journal?.Invoke(batch, [c]);
            return c;
        }
    }

    /// <summary>Drops, without tombstones, every entry whose batch <paramref name="keep"/> refuses; returns how many.</summary>
    public int ForgetWhere(Func<ChangeBatch, bool> keep, string origin, ITableObserver observer)
    {
        lock (_sync)
        {
            var bad = _batches.Values.Where(b => !keep(b)).Select(b => b.Key).ToHashSet();
            if (bad.Count == 0) return 0;
            var junk = new List<Stored>();
            foreach (var e in _entries)
                if (bad.Contains(e.Value.Batch.Key)) junk.Add(e.Value);
            foreach (var held in junk)
            {
                var h = held.Hash;
                if (ForgetLocked(h, out var old) && !held.Version.Removed) Heard(new(ApplyOutcome.Removed, h, old), observer, origin);
            }
            Tell(observer, origin);
            if (_slab.CompactionDue) CompactLocked();
            return junk.Count;
        }
    }

    /// <summary>
    /// Of <paramref name="batch"/>'s members, those whose held entry it still wrote, with their JSON: what is sent or
    /// written of it. A live member of a thin batch comes without its hash (default): its JSON carries it, and the
    /// encoder leaves it to be derived (<see cref="BatchCodec.DerivedFlag"/>) rather than hashing here.
    /// </summary>
    public void CurrentOf(ChangeBatch batch, List<Change> into)
    {
        lock (_sync)
        {
            if (batch.Thick is { } members)
            {
                for (int i = 0; i < members.Length; i++)
                {
                    if (i + PrefetchAhead < members.Length) _entries.Prefetch(members[i + PrefetchAhead].Hash);
                    if (_entries.TryGetValue(members[i].Hash, out var s) && ReferenceEquals(s.Batch, batch) && s.Member == i)
                        into.Add(new Change(members[i].Hash, s.Version, JsonOf(s), batch, i));
                }
                return;
            }
            var thin = batch.Thin!;
            if (!ReferenceEquals(batch.HeldBy, this)) return; // another table's batch backs nothing here
            for (int i = 0; i < batch.Count; i++)
            {
                int w = thin.Where[i];
                if (w >= 0)
                {
                    into.Add(new Change(default, batch.VersionOf(removed: false), _slab.Get(_entries.ValueAt(w).Json), batch, i));
                    continue;
                }
                var m = thin.Kept[~w];
                if (_entries.TryGetValue(m.Hash, out var s) && ReferenceEquals(s.Batch, batch) && s.Member == i)
                    into.Add(new Change(m.Hash, s.Version, JsonOf(s), batch, i));
            }
        }
    }

    /// <summary>The held entries (live or tombstone) of these hashes, with their JSON.</summary>
    public List<Change> Lookup(IReadOnlyList<ObjectHash> hashes)
    {
        var list = new List<Change>(hashes.Count);
        lock (_sync)
            for (int i = 0; i < hashes.Count; i++)
            {
                if (i + PrefetchAhead < hashes.Count) _entries.Prefetch(hashes[i + PrefetchAhead]);
                var h = hashes[i];
                if (_entries.TryGetValue(h, out var s)) list.Add(new Change(h, s.Version, JsonOf(s), s.Batch, s.Member));
            }
        return list;
    }

    /// <summary>Every held entry, grouped by the batch that wrote it, at one moment (the simulation copies a store with it).</summary>
    public List<(ChangeBatch Batch, Change[] Included)> SnapshotGroups()
    {
        lock (_sync)
        {
            var groups = new Dictionary<ChangeBatch, List<Change>>(ReferenceEqualityComparer.Instance);
            foreach (var e in _entries)
            {
                var s = e.Value;
                if (!groups.TryGetValue(s.Batch, out var list)) groups[s.Batch] = list = [];
                list.Add(new Change(e.Hash, s.Version, JsonOf(s), s.Batch, s.Member));
            }
            return groups.Select(g => (g.Key, g.Value.ToArray())).ToList();
        }
    }

    private ReadOnlyMemory<byte> JsonOf(in Stored s) => s.Removed ? default : _slab.Get(s.Json);

    private bool IsLive(in ObjectHash hash) => _entries.TryGetValue(hash, out var s) && !s.Removed;

    private ApplyOutcome ApplyLocked(in Change change, string origin, ITableObserver? observer, Func<ChangeBatch, bool>? signed = null)
    {
        var outcome = ApplyLocked(change, signed, out var previous, out var stored);
        if (observer is not null)
            switch (outcome)
            {
                case ApplyOutcome.Added or ApplyOutcome.Replaced: Heard(new(outcome, change.Hash, stored), observer, origin); break;
                case ApplyOutcome.Removed: Heard(new(outcome, change.Hash, previous), observer, origin); break;
            }
        if (_slab.CompactionDue) CompactLocked();
        return outcome;
    }

    /// <summary>Queues what a change did for the observer, telling it once a full run is waiting.</summary>
    private void Heard(in AppliedChange applied, ITableObserver observer, string origin)
    {
        _heard.Add(applied);
        if (_heard.Count >= HeardPerCall) Tell(observer, origin);
    }

    /// <summary>Tells the observer what is waiting (under the lock, before the lock's holder returns).</summary>
    private void Tell(ITableObserver? observer, string origin)
    {
        if (_heard.Count == 0) return;
        try
        {
            observer?.OnApplied(this, CollectionsMarshal.AsSpan(_heard), origin);
        }
        finally
        {
            _heard.Clear();
        }
    }

    private ApplyOutcome ApplyLocked(in Change change, Func<ChangeBatch, bool>? signed, out ReadOnlyMemory<byte> previousJson, out ReadOnlyMemory<byte> storedJson)
    {
        previousJson = storedJson = default;
        if (!change.Version.Removed && change.Json.IsEmpty) throw new ArgumentException("an add carries its JSON");
        if (change.Batch is null || change.Member < 0 || change.Member >= change.Batch.Count)
            throw new ArgumentException("a change carries its batch and is the member of it that it claims to be");
        var member = change.Batch.MemberAt(change.Member);
        if (member.Hash != change.Hash || member.Removed != change.Version.Removed)
            throw new ArgumentException("a change carries its batch and is the member of it that it claims to be");
        // One instance per batch, so its reference count covers every entry it backs. The index finds an entry's full
        // hash through that instance, so a batch that reuses a held batch's version with other members is ignored.
        // (A live member of a held thin batch is its object's entry at that very version: stale whatever it claims.)
        // The batch of the previous change is held and is usually this one (changes come a batch at a time).
        var batch = ReferenceEquals(change.Batch, _lastBatch) || ReferenceEquals(change.Batch, _lastHandedIn) ? _lastBatch
            : _batches.GetValueOrDefault(change.Batch.Key);
        if (batch is not null && !ReferenceEquals(batch, change.Batch) && !HeldMemberIs(batch, change.Member, member))
            return ApplyOutcome.Stale;
        // A batch new to the table: a peer's must be signed, and another table's instance is held as a copy.
        if (batch is null && signed is not null && !signed(change.Batch)) return ApplyOutcome.Stale;
        // One lookup per change: the slot is written in place (nothing below throws once a new slot exists).
        ref var slot = ref _entries.GetValueRefOrAddDefault(change.Hash, out bool had, out int position);
        var old = slot;
        if (had && old.Version.CompareTo(change.Version) >= 0) return ApplyOutcome.Stale;
        if (batch is null) // adopted: held from now on
        {
            batch = change.Batch.HeldCopyFor(this);
            _batches[batch.Key] = batch;
            if (!batch.IsThin) _thickMembers += batch.Count;
        }
        batch.LiveRefs++;
        _lastBatch = batch;
        _lastHandedIn = change.Batch;

        int leaf = (int)change.Hash.Prefix(LeafBits);
        _leafSum ??= new ulong[Leaves];
        _leafCount ??= new int[Leaves];
        if (had)
        {
            ulong oldFp = old.FingerprintFor(change.Hash.A);
            _leafSum[leaf] -= oldFp;
            _syncSum -= oldFp;
            _leafCount[leaf]--;
            if (!old.Removed)
            {
                RemoveLive(change.Hash, _slab.Length(old.Json));
                KeepHash(old.Batch, old.Member, change.Hash);
            }
            Release(old.Batch);
        }
        ulong fp = batch.Fingerprint(change.Hash.A, change.Version.Removed);
        _leafSum[leaf] += fp;
        _syncSum += fp;
        _leafCount[leaf]++;
        JsonRef at = default;
        if (!change.Version.Removed)
        {
            at = _slab.Append(change.Json.Span);
            storedJson = _slab.Get(at);
            AddLive(change.Hash, change.Json.Length);
        }
        slot = new Stored(at, batch, change.Member);
        // A thin batch's member that is now a live entry of the dense array is found by its position from now on.
        if (!change.Version.Removed && position >= 0 && batch.Thin is { } held) held.Where[change.Member] = position;

        bool wasLive = had && !old.Removed;
        if (wasLive)
        {
            previousJson = _slab.Get(old.Json);
            _slab.Release(old.Json);
        }
        return (wasLive, !change.Version.Removed) switch
        {
            (false, true) => ApplyOutcome.Added,
            (true, false) => ApplyOutcome.Removed,
            (true, true) => ApplyOutcome.Replaced,
            _ => ApplyOutcome.TombstoneOnly,
        };
    }

    /// <summary>Drops an entry outright (no tombstone): used for entries that no trusted master wrote.</summary>
    private bool ForgetLocked(in ObjectHash hash, out ReadOnlyMemory<byte> previousJson)
    {
        previousJson = default;
        if (!_entries.Remove(hash, out var old, out int movedTo)) return false;
        if (!old.Removed) KeepHash(old.Batch, old.Member, hash);
        // The last entry filled the hole: a live member of a thin batch follows it.
        if (movedTo >= 0)
        {
            ref readonly var moved = ref _entries.ValueAt(movedTo);
            if (moved.Batch.Thin is { } thin && thin.Where[moved.Member] >= 0) thin.Where[moved.Member] = movedTo;
        }
        ulong fp = old.FingerprintFor(hash.A);
        int leaf = (int)hash.Prefix(LeafBits);
        _leafSum![leaf] -= fp;
        _leafCount![leaf]--;
        _syncSum -= fp;
        if (!old.Removed)
        {
            RemoveLive(hash, _slab.Length(old.Json));
            previousJson = _slab.Get(old.Json);
            _slab.Release(old.Json);
        }
        Release(old.Batch);
        return true;
    }

    private void Release(ChangeBatch batch)
    {
        if (--batch.LiveRefs > 0) return;
        _batches.Remove(batch.Key);
        if (!batch.IsThin) _thickMembers = Math.Max(0, _thickMembers - batch.Count);
        if (ReferenceEquals(batch, _lastBatch)) _lastBatch = _lastHandedIn = null;
    }

    public bool TryGetLive(in ObjectHash hash, out ReadOnlyMemory<byte> json)
    {
        lock (_sync)
        {
            if (_entries.TryGetValue(hash, out var s) && !s.Version.Removed)
            {
                json = _slab.Get(s.Json);
                return true;
            }
            json = default;
            return false;
        }
    }

    /// <summary>The live objects (hash, JSON), listed; with <paramref name="skip"/>, all but the first that many.</summary>
    public List<(ObjectHash Hash, ReadOnlyMemory<byte> Json)> SnapshotLive(long skip = 0)
    {
        lock (_sync)
        {
            long want = Math.Max(0, _liveCount - skip);
            var list = new List<(ObjectHash, ReadOnlyMemory<byte>)>((int)want);
            if (skip > want && _entries.OverflowCount == 0)
            {
                // The last few of many (a node's start-up events): read from the end instead of counting past the rest.
                for (int p = _entries.DenseCount - 1; p >= 0 && list.Count < want; p--)
                {
                    ref readonly var s = ref _entries.ValueAt(p);
                    if (!s.Removed) list.Add((s.Hash, _slab.Get(s.Json)));
                }
                list.Reverse();
                return list;
            }
            foreach (var e in _entries)
                if (!e.Value.Removed && skip-- <= 0) list.Add((e.Hash, _slab.Get(e.Value.Json)));
            return list;
        }
    }

    /// <summary>Moves every live object out of the slab's mostly dead segments (see <see cref="JsonSlab"/>).</summary>
    private void CompactLocked()
    {
        _slab.BeginCompaction();
        _entries.UpdateEach((ref Stored slot) =>
        {
            if (!slot.Version.Removed && _slab.Evacuates(slot.Json)) slot = new Stored(_slab.Move(slot.Json), slot.Batch, slot.Member);
        });
        _slab.FinishCompaction();
    }

    /// <summary>
    /// For each parent range at <paramref name="depth"/> (prefix of 4·depth bits), the count and fingerprint sum of
    /// its 16 child ranges, in the order of <paramref name="parents"/>.
    /// </summary>
    public RangeSummary[] Children(int depth, IReadOnlyList<ulong> parents)
    {
        lock (_sync) return ChildrenLocked(depth, parents);
    }

    private RangeSummary[] ChildrenLocked(int depth, IReadOnlyList<ulong> parents)
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
        foreach (var e in _entries)
        {
            if (!index.TryGetValue(e.Prefix(parentBits), out int i)) continue;
            int c = (int)(e.Prefix(childBits) & 15);
            result[i].Counts[c]++;
            result[i].Sums[c] += e.Value.FingerprintFor(e.Head);
        }
        return result;
    }

    /// <summary>Entries whose hash has one of <paramref name="prefixes"/> (4·depth bits).</summary>
    public List<Change> InRanges(int depth, IReadOnlyCollection<ulong> prefixes, bool withJson)
    {
        lock (_sync) return InRangesLocked(depth, prefixes, withJson);
    }

    private List<Change> InRangesLocked(int depth, IReadOnlyCollection<ulong> prefixes, bool withJson)
    {
        var set = prefixes as HashSet<ulong> ?? new HashSet<ulong>(prefixes);
        var list = new List<Change>();
        int bits = 4 * depth;
        foreach (var e in _entries)
            if (set.Contains(e.Prefix(bits)))
            {
                var s = e.Value;
                list.Add(new Change(e.Hash, s.Version, withJson ? JsonOf(s) : default, s.Batch, s.Member));
            }
        return list;
    }

    /// <summary>Removes tombstones older than <paramref name="hlcBefore"/>; returns how many.</summary>
    public int PurgeTombstones(ulong hlcBefore)
    {
        lock (_sync)
        {
            List<ObjectHash>? old = null;
            foreach (var e in _entries)
                if (e.Value.Version.Removed && e.Value.Version.Hlc < hlcBefore) (old ??= []).Add(e.Hash);
            if (old is null) return 0;
            foreach (var h in old) ForgetLocked(h, out _);
            return old.Count;
        }
    }

    private void AddLive(in ObjectHash h, int jsonBytes)
    {
        _l0 += h.A; _l1 += h.B; _l2 += h.C; _l3 += h.D;
        _liveCount++;
        _liveJsonBytes += (ulong)jsonBytes;
    }

    private void RemoveLive(in ObjectHash h, int jsonBytes)
    {
        _l0 -= h.A; _l1 -= h.B; _l2 -= h.C; _l3 -= h.D;
        _liveCount--;
        _liveJsonBytes -= (ulong)jsonBytes;
    }
}

internal enum ApplyOutcome
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
internal sealed class RangeSummary(ulong prefix)
{
    public ulong Prefix { get; } = prefix;

    public long[] Counts { get; } = new long[16];

    public ulong[] Sums { get; } = new ulong[16];
}
