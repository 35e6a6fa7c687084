using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using Dt.Model;

namespace Dt.Replication;

/// <summary>A value that knows its own object hash (so an index need not store the hash again).</summary>
internal interface IKeyedByHash
{
    ObjectHash Hash { get; }
}

/// <summary>
/// A map from object hash to <typeparamref name="T"/> keyed by the hash's first 64 bits: 8 bytes of key per entry
/// instead of 32, because the value already leads to its full hash (a held entry's signed batch lists it, or
/// derives it from the entry's JSON once thin).
/// <para>
/// Entries sit densely in one array in the order they came (key and value: 24 bytes for a table's entry), found
/// through a smaller array of 4-byte slots, open-addressed with linear probing and at most three quarters full. Each
/// slot holds an entry's position and 5 bits of its key, so a probe rarely reads an entry that is not the one sought.
/// About 29 bytes per entry where a <see cref="Dictionary{TKey,TValue}"/> spent 37 (its entries carry a hash code and
/// a chain link, and it sizes them to a prime above the count). Filling in order writes the entries sequentially and
/// touches one slot at random, as a dictionary does; open addressing over the entries themselves, tried twice, was
/// twice as slow at 1M entries, because every probe was a cache miss in a 30 MB array.
/// </para>
/// A slot's place comes from the key mixed with a per-process secret, so objects ground to share hash prefixes do
/// not share a probe run. Removal moves the last entry into the hole and shifts the probe run back (no tombstones).
/// Two objects whose hashes share those 64 bits (a one-in-2⁶⁴ chance per pair, or a master grinding for it) are kept
/// correct by an overflow map keyed by the full hash, which is empty in practice.
/// Not thread-safe: its table's lock guards it.
/// </summary>
internal sealed class CompactIndex<T> where T : struct, IKeyedByHash
{
    private struct Entry
    {
        public ulong Key;
        public T Value;
    }

    private const int TagBits = 5;
    private const int PositionBits = 32 - TagBits;

    /// <summary>Most entries (positions fit in the slot beside the tag).</summary>
    public const int MaxEntries = (1 << PositionBits) - 2;

    private static readonly ulong Seed = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));

    private Entry[] _entries = [];
    private int _count;
    private uint[] _slots = [];
    private readonly Dictionary<ObjectHash, T> _overflow = new();

    public int Count => _count + _overflow.Count;

    /// <summary>Entries that did not fit under their 64-bit key (tests and diagnostics).</summary>
    public int OverflowCount => _overflow.Count;

    /// <summary>Makes room for <paramref name="entries"/> entries, so filling up to them never grows.</summary>
    public void EnsureCapacity(int entries)
    {
        entries = Math.Min(entries, MaxEntries);
        if (entries > _entries.Length) Array.Resize(ref _entries, entries);
        if (SlotsFor(entries) > _slots.Length) Rebuild(SlotsFor(entries));
    }

    /// <summary>Entries the index holds room for before it grows.</summary>
    public int Capacity => _entries.Length;

    /// <summary>Gives back the room beyond what the entries need (after a bulk that grew the index, when quiet).</summary>
    public void TrimExcess()
    {
        if (_entries.Length > _count + _count / 8 + 16) Array.Resize(ref _entries, _count);
        if (_slots.Length > SlotsFor(_count) * 5 / 4 + 16) Rebuild(SlotsFor(_count));
    }

    public bool TryGetValue(in ObjectHash hash, out T value)
    {
        int at = Find(hash.A, out _, out _);
        if (at >= 0 && _entries[at].Value.Hash == hash)
        {
            value = _entries[at].Value;
            return true;
        }
        if (_overflow.Count > 0 && _overflow.TryGetValue(hash, out value)) return true;
        value = default;
        return false;
    }

    /// <summary>
    /// Asks the CPU to start loading the slot where <paramref name="hash"/>'s probe begins. An index of a million
    /// entries is far bigger than the caches, so nearly every lookup waits for memory; a caller going through a list
    /// of changes prefetches a few ahead, and the waits overlap instead of adding up. A hint only: it changes nothing,
    /// and a prefetch of a stale address (the array grew or moved meanwhile) is harmless.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(in ObjectHash hash) => PrefetchSlot(Mixed(hash.A));

    /// <summary>How far ahead a loop over keys prefetches their slots.</summary>
    public const int PrefetchAhead = 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe void PrefetchSlot(ulong mixed)
    {
        var slots = _slots;
        if (!Sse.IsSupported || slots.Length == 0) return;
        Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(slots), Home(mixed, slots.Length))));
    }

    /// <summary>
    /// The slot for <paramref name="hash"/>, added (default) if absent; the caller must fill a new slot before any
    /// other call, because an empty slot does not know its hash yet.
    /// </summary>
    public ref T GetValueRefOrAddDefault(in ObjectHash hash, out bool exists) => ref GetValueRefOrAddDefault(hash, out exists, out _);

    /// <summary>As <see cref="GetValueRefOrAddDefault(in ObjectHash, out bool)"/>, with the entry's position (-1 in the overflow map).</summary>
    public ref T GetValueRefOrAddDefault(in ObjectHash hash, out bool exists, out int position)
    {
        position = -1;
        if (_overflow.Count > 0)
        {
            ref var spilled = ref CollectionsMarshal.GetValueRefOrNullRef(_overflow, hash);
            if (!Unsafe.IsNullRef(ref spilled))
            {
                exists = true;
                return ref spilled;
            }
        }
        ulong key = hash.A;
        int at = Find(key, out ulong mixed, out int free);
        if (at >= 0)
        {
            if (_entries[at].Value.Hash == hash)
            {
                exists = true;
                position = at;
                return ref _entries[at].Value;
            }
            // Another object holds these 64 bits.
            return ref CollectionsMarshal.GetValueRefOrAddDefault(_overflow, hash, out exists);
        }
        if (_count == MaxEntries) throw new InvalidOperationException($"a table holds at most {MaxEntries} entries");
        // Grow first: the ref returned must stay valid until the caller fills it.
        if (_count == _entries.Length) Array.Resize(ref _entries, (int)Math.Min(MaxEntries, Math.Max(16L, _entries.Length * 2L)));
        if (SlotsFor(_count + 1) > _slots.Length)
        {
            Rebuild(Math.Max(SlotsFor(_count + 1), (int)Math.Min(int.MaxValue, _slots.Length * 2L)));
            free = FreeSlot(mixed);
        }
        position = _count++;
        _entries[position].Key = key;
        _slots[free] = Tag(mixed) | (uint)(position + 1);
        exists = false;
        return ref _entries[position].Value;
    }

    public bool Remove(in ObjectHash hash, out T value) => Remove(hash, out value, out _);

    /// <summary>
    /// Removes <paramref name="hash"/>'s entry; <paramref name="movedTo"/> is the position the last entry moved into
    /// to fill its hole (-1 if none moved). Positions change only here: adds append, growing keeps them.
    /// </summary>
    public bool Remove(in ObjectHash hash, out T value, out int movedTo)
    {
        movedTo = -1;
        int at = Find(hash.A, out _, out _);
        if (at >= 0 && _entries[at].Value.Hash == hash)
        {
            value = _entries[at].Value;
            if (RemoveAt(at)) movedTo = at;
            return true;
        }
        if (_overflow.Count > 0 && _overflow.Remove(hash, out value)) return true;
        value = default;
        return false;
    }

    /// <summary>
    /// The position in the dense array of the entry keyed by these 64 bits of a hash, or -1. The dense array holds at
    /// most one entry per key; whether it is the object sought is for the caller to know (the full hash is not compared).
    /// </summary>
    public int PositionOfKey(ulong key) => Find(key, out _, out _);

    /// <summary>Entries in the dense array, at positions 0 to this minus one (the overflow map's are not).</summary>
    public int DenseCount => _count;

    /// <summary>The value at <paramref name="position"/> of the dense array (below <see cref="DenseCount"/>).</summary>
    public ref T ValueAt(int position)
    {
        if ((uint)position >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(position));
        return ref _entries[position].Value;
    }

    /// <summary>The first 64 bits of the hash at <paramref name="position"/> (its key).</summary>
    public ulong KeyAt(int position) => (uint)position < (uint)_count ? _entries[position].Key : throw new ArgumentOutOfRangeException(nameof(position));

    public delegate void Update(ref T value);

    /// <summary>Lets <paramref name="update"/> rewrite every value in place (it must not change the value's hash).</summary>
    public void UpdateEach(Update update)
    {
        var entries = _entries;
        for (int i = 0; i < _count; i++) update(ref entries[i].Value);
        foreach (var key in _overflow.Keys) update(ref CollectionsMarshal.GetValueRefOrNullRef(_overflow, key));
    }

    public Enumerator GetEnumerator() => new(this);

    /// <summary>One entry as enumerated: the hash's first 64 bits (enough for range prefixes) and the value.</summary>
    public readonly record struct Item(ulong Head, T Value)
    {
        public ObjectHash Hash => Value.Hash;

        /// <summary>The first <paramref name="bits"/> bits of the hash, as <see cref="ObjectHash.Prefix"/>.</summary>
        public ulong Prefix(int bits) => bits == 0 ? 0 : Head >> (64 - bits);
    }

    /// <summary>Every entry, in no particular order; the full hash is read only when asked for.</summary>
    public struct Enumerator(CompactIndex<T> index)
    {
        private readonly Entry[] _entries = index._entries;
        private readonly int _count = index._count;
        private int _next;
        private Dictionary<ObjectHash, T>.Enumerator _overflow = index._overflow.GetEnumerator();

        public Item Current { get; private set; }

        public bool MoveNext()
        {
            if (_next < _count)
            {
                ref var e = ref _entries[_next++];
                Current = new(e.Key, e.Value);
                return true;
            }
            if (!_overflow.MoveNext()) return false;
            Current = new(_overflow.Current.Key.A, _overflow.Current.Value);
            return true;
        }
    }

    /// <summary>Slots for <paramref name="entries"/> at three quarters full.</summary>
    private static int SlotsFor(int entries) => entries == 0 ? 0 : (int)Math.Min(int.MaxValue, entries * 4L / 3 + 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mixed(ulong key) => EntryVersion.Mix(key ^ Seed);

    /// <summary>Where a probe run starts: the mixed key scaled onto the slots (no division).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Home(ulong mixed, int slots) => (int)Math.BigMul(mixed, (ulong)slots, out _);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Tag(ulong mixed) => (uint)mixed << PositionBits;

    /// <summary>The position of the entry keyed <paramref name="key"/>, or -1 and the empty slot that ended the probe.</summary>
    private int Find(ulong key, out ulong mixed, out int free)
    {
        mixed = Mixed(key);
        free = -1;
        var slots = _slots;
        if (slots.Length == 0) return -1;
        uint tag = Tag(mixed);
        int i = Home(mixed, slots.Length);
        ref uint first = ref MemoryMarshal.GetArrayDataReference(slots);
        while (true)
        {
            uint s = Unsafe.Add(ref first, i);
            if (s == 0)
            {
                free = i;
                return -1;
            }
            if ((s & ~PositionMask) == tag)
            {
                int at = (int)(s & PositionMask) - 1;
                if (_entries[at].Key == key) return at;
            }
            if (++i == slots.Length) i = 0;
        }
    }

    private const uint PositionMask = (1u << PositionBits) - 1;

    private int FreeSlot(ulong mixed)
    {
        var slots = _slots;
        int i = Home(mixed, slots.Length);
        while (slots[i] != 0)
            if (++i == slots.Length) i = 0;
        return i;
    }

    private void Place(ulong mixed, int position) => _slots[FreeSlot(mixed)] = Tag(mixed) | (uint)(position + 1);

    /// <summary>The slot that points at <paramref name="position"/>.</summary>
    private int SlotOf(int position)
    {
        var slots = _slots;
        int i = Home(Mixed(_entries[position].Key), slots.Length);
        while ((slots[i] & PositionMask) != (uint)(position + 1))
            if (++i == slots.Length) i = 0;
        return i;
    }

    /// <summary>Removes the entry at <paramref name="position"/>; true if the last entry moved into it.</summary>
    private bool RemoveAt(int position)
    {
        ShiftBack(SlotOf(position));
        int last = --_count;
        bool moved = position != last;
        if (moved)
        {
            int slot = SlotOf(last);
            _entries[position] = _entries[last];
            _slots[slot] = (_slots[slot] & ~PositionMask) | (uint)(position + 1);
        }
        _entries[last] = default; // lets go of what the value refers to
        return moved;
    }

    /// <summary>Empties slot <paramref name="hole"/>, moving back every later slot of its run that may sit there.</summary>
    private void ShiftBack(int hole)
    {
        var slots = _slots;
        int j = hole;
        while (true)
        {
            if (++j == slots.Length) j = 0;
            uint s = slots[j];
            if (s == 0) break;
            int home = Home(Mixed(_entries[(int)(s & PositionMask) - 1].Key), slots.Length);
            // The slot at j stays if its home lies cyclically in (hole, j].
            bool stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (stays) continue;
            slots[hole] = s;
            hole = j;
        }
        slots[hole] = 0;
    }

    private void Rebuild(int size)
    {
        _slots = new uint[size];
        for (int i = 0; i < _count; i++)
        {
            if (i + PrefetchAhead < _count) PrefetchSlot(Mixed(_entries[i + PrefetchAhead].Key));
            Place(Mixed(_entries[i].Key), i);
        }
    }
}
