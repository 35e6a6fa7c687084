using System.Runtime.InteropServices;
using Dt.Model;

namespace Dt.Replication;

/// <summary>A value that knows its own object hash (so an index need not store the hash again).</summary>
internal interface IKeyedByHash
{
    ObjectHash Hash { get; }
}

/// <summary>
/// A map from object hash to <typeparamref name="T"/> keyed by the hash's first 64 bits: 8 bytes of key per entry
/// instead of 32, because the value already leads to its full hash (a held entry's signed batch lists it). Two
/// objects whose hashes share those 64 bits (a one-in-2⁶⁴ chance per pair, or a master grinding for it) are kept
/// correct by an overflow map keyed by the full hash, which is empty in practice.
/// Not thread-safe: its table's lock guards it.
/// </summary>
internal sealed class CompactIndex<T> where T : struct, IKeyedByHash
{
    private readonly Dictionary<ulong, T> _primary = new();
    private readonly Dictionary<ObjectHash, T> _overflow = new();

    public int Count => _primary.Count + _overflow.Count;

    /// <summary>Entries that did not fit under their 64-bit key (tests and diagnostics).</summary>
    public int OverflowCount => _overflow.Count;

    public void EnsureCapacity(int entries) => _primary.EnsureCapacity(entries);

    public bool TryGetValue(in ObjectHash hash, out T value)
    {
        if (_primary.TryGetValue(hash.A, out value) && value.Hash == hash) return true;
        if (_overflow.Count > 0 && _overflow.TryGetValue(hash, out value)) return true;
        value = default;
        return false;
    }

    /// <summary>
    /// The slot for <paramref name="hash"/>, added (default) if absent; the caller must fill a new slot before any
    /// other call, because an empty slot does not know its hash yet.
    /// </summary>
    public ref T GetValueRefOrAddDefault(in ObjectHash hash, out bool exists)
    {
        if (_overflow.Count > 0)
        {
            ref var spilled = ref CollectionsMarshal.GetValueRefOrNullRef(_overflow, hash);
            if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref spilled))
            {
                exists = true;
                return ref spilled;
            }
        }
        ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_primary, hash.A, out exists);
        if (!exists || slot.Hash == hash) return ref slot;
        // Another object holds these 64 bits.
        return ref CollectionsMarshal.GetValueRefOrAddDefault(_overflow, hash, out exists);
    }

    public bool Remove(in ObjectHash hash, out T value)
    {
        if (_primary.TryGetValue(hash.A, out value) && value.Hash == hash) return _primary.Remove(hash.A);
        if (_overflow.Count > 0 && _overflow.Remove(hash, out value)) return true;
        value = default;
        return false;
    }

    public delegate void Update(ref T value);

    /// <summary>Lets <paramref name="update"/> rewrite every value in place (it must not change the value's hash).</summary>
    public void UpdateEach(Update update)
    {
        foreach (var key in _primary.Keys) update(ref CollectionsMarshal.GetValueRefOrNullRef(_primary, key));
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
        private Dictionary<ulong, T>.Enumerator _primary = index._primary.GetEnumerator();
        private Dictionary<ObjectHash, T>.Enumerator _overflow = index._overflow.GetEnumerator();
        private bool _inOverflow;

        public Item Current { get; private set; }

        public bool MoveNext()
        {
            if (!_inOverflow)
            {
                if (_primary.MoveNext())
                {
                    Current = new(_primary.Current.Key, _primary.Current.Value);
                    return true;
                }
                _inOverflow = true;
            }
            if (!_overflow.MoveNext()) return false;
            Current = new(_overflow.Current.Key.A, _overflow.Current.Value);
            return true;
        }
    }
}
