using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Dt.Model;

namespace Dt.Replication;

/// <summary>
/// One object a batch changes: its hash and whether the batch removes it. Packed to 33 bytes (not padded to 40):
/// every held object keeps one, and x64 reads the unaligned hash at full speed.
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
internal readonly record struct BatchMember(ObjectHash Hash, bool Removed);

/// <summary>
/// A signed unit of change: everything one master changed in a table at one clock tick. All its changes share the
/// version's clock and author, so a change's version names its batch. One ECDSA signature covers the whole member
/// list, which keeps signing and verifying cheap when millions of objects move; a change travels with its batch's
/// member list and signature, and a node keeps a batch while any of its changes is still the newest for its object.
/// <para>
/// A batch starts thick: its member list in full, 33 bytes per member. The table that holds it makes it thin when
/// quiet or busy enough (<see cref="TableState.TrimExcess"/>, <see cref="TableState.ThinBatchesIfDue"/>): a member
/// whose add is the live entry of its object there is kept as
/// that entry's position in the table's index (4 bytes), since its hash is the SHA-256 of the JSON the table holds
/// anyway; only the other members keep their hash. That takes a held object's cost from 33 to 4 bytes. A thin batch
/// belongs to that one table, which changes it under its lock; what reads a thin batch's members takes that lock
/// (<see cref="MemberAt"/>, <see cref="Members"/>). A thick batch never changes.
/// </para>
/// </summary>
internal sealed class ChangeBatch
{
    /// <summary>Most members per batch; bigger changes are split into several batches.</summary>
    public const int MaxMembers = 4096;

    public ChangeBatch(Guid author, ulong hlc, BatchMember[] members, byte[] signature)
    {
        Author = author;
        Hlc = hlc;
        _members = members;
        Count = members.Length;
        Signature = signature;
        _addKey = EntryVersion.FingerprintKey(hlc, author, removed: false);
        _removeKey = EntryVersion.FingerprintKey(hlc, author, removed: true);
    }

    public Guid Author { get; }

    public ulong Hlc { get; }

    public byte[] Signature { get; }

    /// <summary>How many members the batch has (what its signature covers).</summary>
    public int Count { get; }

    // Thick: every member. Null once thin (set after _thin, so a reader that sees null finds _thin).
    private BatchMember[]? _members;
    private ThinMembers? _thin;

    /// <summary>The members of a thin batch, changed only under the lock of the table that holds it.</summary>
    internal sealed class ThinMembers(int[] where, BatchMember[] kept)
    {
        /// <summary>Per member: the index position of its live entry (0 and up), or ~k for <see cref="Kept"/>[k].</summary>
        public readonly int[] Where = where;

        public BatchMember[] Kept = kept;
        public int KeptCount = kept.Length;
    }

    // Where this node found the signature good: the digest covers network and table. One reference, so it is read
    // and written whole.
    private sealed record GoodIn(string Network, string Table);
    private GoodIn? _goodIn;

    /// <summary>
    /// Whether this node found the signature good for <paramref name="table"/> in <paramref name="network"/>. The author
    /// is its key's id, so the check holds whatever masters are trusted later; it spares a thin batch a check that
    /// would hash every live member's JSON again (when a node restarts over the tables it held).
    /// </summary>
    public bool SignatureGoodFor(string network, string table) => Volatile.Read(ref _goodIn) is { } g && g.Network == network && g.Table == table;

    /// <summary>Records that the signature was found good for <paramref name="table"/> in <paramref name="network"/>.</summary>
    public void MarkSignatureGood(string network, string table) => Volatile.Write(ref _goodIn, new GoodIn(network, table));

    // The table that holds this instance: one only, because a table counts its references and, once thin, writes its
    // own index positions into it. Another table that is handed it holds a copy (see HeldCopyFor).
    private TableState? _heldBy;

    /// <summary>The table that holds this instance (the one a thin batch's positions belong to), if any.</summary>
    internal TableState? HeldBy => Volatile.Read(ref _heldBy);

    /// <summary>
    /// This instance, if <paramref name="table"/> may hold it (no other table has), else a copy of it for
    /// <paramref name="table"/>: thick, sharing the member list (which never changes) or resolving a thin one's.
    /// </summary>
    internal ChangeBatch HeldCopyFor(TableState table)
    {
        var by = Interlocked.CompareExchange(ref _heldBy, table, null);
        if (by is null || ReferenceEquals(by, table)) return this;
        var copy = new ChangeBatch(Author, Hlc, Members, Signature) { _goodIn = Volatile.Read(ref _goodIn) };
        copy._heldBy = table;
        return copy;
    }

    /// <summary>How many of this batch's changes are the newest held for their object (maintained by <see cref="TableState"/>).</summary>
    public int LiveRefs { get; set; }

    public (Guid, ulong) Key => (Author, Hlc);

    public bool IsThin => Volatile.Read(ref _members) is null;

    /// <summary>The member list of a thick batch (null once thin): read without a lock, it never changes.</summary>
    public BatchMember[]? Thick => Volatile.Read(ref _members);

    /// <summary>The thin members (null while thick); only for the owning table, under its lock.</summary>
    internal ThinMembers? Thin => _thin;

    /// <summary>Every member in order: the list itself while thick, else a copy resolved under the owner's lock (hashing its live objects' JSON).</summary>
    public BatchMember[] Members
    {
        get
        {
            if (Thick is { } thick) return thick;
            var all = new BatchMember[Count];
            HeldBy!.CopyMembers(this, all, default);
            return all;
        }
    }

    /// <summary>Member <paramref name="i"/> (for a thin batch, resolved under its owner's lock).</summary>
    public BatchMember MemberAt(int i) => Thick is { } thick ? thick[i] : HeldBy!.MemberOf(this, i);

    /// <summary>Whether member <paramref name="i"/> removes its object; for a thin batch only under its owner's lock.</summary>
    public bool RemovedAt(int i)
    {
        if (Thick is { } thick) return thick[i].Removed;
        int w = _thin!.Where[i];
        return w < 0 && _thin.Kept[~w].Removed;
    }

    /// <summary>Makes the batch thin: called by the table that holds it, under its lock, with the lists built from <see cref="Thick"/>.</summary>
    internal void BecomeThin(int[] where, BatchMember[] kept)
    {
        _thin = new ThinMembers(where, kept);
        Volatile.Write(ref _members, null);
    }

    public EntryVersion VersionOf(in BatchMember m) => new(Hlc, Author, m.Removed);

    public EntryVersion VersionOf(bool removed) => new(Hlc, Author, removed);

    // A member's fingerprint mixes its hash with its version, which the batch fixes but for add or remove: computed
    // once here instead of once per applied change.
    private readonly ulong _addKey;
    private readonly ulong _removeKey;

    /// <summary>The fingerprint of member <paramref name="m"/> at this batch's version (as <see cref="EntryVersion.Fingerprint(ulong)"/>).</summary>
    public ulong Fingerprint(in BatchMember m) => Fingerprint(m.Hash.A, m.Removed);

    /// <summary>The fingerprint of a member from its hash's first 64 bits (all a fingerprint uses) and its op.</summary>
    public ulong Fingerprint(ulong hashHead, bool removed) => EntryVersion.Fingerprint(hashHead, removed ? _removeKey : _addKey);

    /// <summary>SHA-256 of what the master signs: network, table, author, clock and every member in order.</summary>
    public static byte[] Digest(string network, string table, Guid author, ulong hlc, ReadOnlySpan<BatchMember> members)
    {
        // Laid out whole and hashed in one call: a call per member (4,096 of them in a full batch) cost more than the hashing.
        const int MemberBytes = 1 + ObjectHash.Size;
        int length = Prefix.Length + Encoding.UTF8.GetByteCount(network) + 1 + Encoding.UTF8.GetByteCount(table) + 1 + 16 + 8 + 4 + members.Length * MemberBytes;
        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var b = rented.AsSpan(0, length);
            Prefix.CopyTo(b);
            int at = Prefix.Length;
            at += Encoding.UTF8.GetBytes(network, b[at..]);
            b[at++] = 0;
            at += Encoding.UTF8.GetBytes(table, b[at..]);
            b[at++] = 0;
            author.TryWriteBytes(b[at..], bigEndian: true, out _);
            BinaryPrimitives.WriteUInt64BigEndian(b[(at + 16)..], hlc);
            BinaryPrimitives.WriteInt32BigEndian(b[(at + 24)..], members.Length);
            at += 28;
            foreach (var member in members)
            {
                b[at] = member.Removed ? (byte)1 : (byte)0;
                member.Hash.Write(b.Slice(at + 1, ObjectHash.Size));
                at += MemberBytes;
            }
            return SHA256.HashData(b);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static ReadOnlySpan<byte> Prefix => "dt batch v1\0"u8;

    public bool SameAs(ChangeBatch other) => Signature.AsSpan().SequenceEqual(other.Signature) && Count == other.Count;
}
