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
/// </summary>
internal sealed class ChangeBatch(Guid author, ulong hlc, BatchMember[] members, byte[] signature)
{
    /// <summary>Most members per batch; bigger changes are split into several batches.</summary>
    public const int MaxMembers = 4096;

    public Guid Author { get; } = author;

    public ulong Hlc { get; } = hlc;

    public BatchMember[] Members { get; } = members;

    public byte[] Signature { get; } = signature;

    /// <summary>How many of this batch's changes are the newest held for their object (maintained by <see cref="TableState"/>).</summary>
    public int LiveRefs { get; set; }

    public (Guid, ulong) Key => (Author, Hlc);

    public EntryVersion VersionOf(in BatchMember m) => new(Hlc, Author, m.Removed);

    // A member's fingerprint mixes its hash with its version, which the batch fixes but for add or remove: computed
    // once here instead of once per applied change.
    private readonly ulong _addKey = EntryVersion.FingerprintKey(hlc, author, removed: false);
    private readonly ulong _removeKey = EntryVersion.FingerprintKey(hlc, author, removed: true);

    /// <summary>The fingerprint of member <paramref name="m"/> at this batch's version (as <see cref="EntryVersion.Fingerprint(ulong)"/>).</summary>
    public ulong Fingerprint(in BatchMember m) => EntryVersion.Fingerprint(m.Hash.A, m.Removed ? _removeKey : _addKey);

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

    public bool SameAs(ChangeBatch other) => Signature.AsSpan().SequenceEqual(other.Signature) && Members.Length == other.Members.Length;
}
