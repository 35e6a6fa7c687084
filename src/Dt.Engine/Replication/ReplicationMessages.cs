using System.Buffers;
using System.Runtime.InteropServices;
using Dt.Model;
using Dt.Protocol;
using Dt.Security;

namespace Dt.Replication;

/// <summary>
/// Codec of changes, grouped by the signed batch they belong to: each group carries the batch (author, clock,
/// signature, every member's op and hash) and the included changes as member indexes, with the JSON of adds.
/// The hash of every add is checked against its JSON here, all of a frame's at once; the signature is checked by the replicator.
/// </summary>
internal static class BatchCodec
{
    /// <summary>Bytes a group takes on the wire, near enough for packing frames.</summary>
    public static int Estimate(ChangeBatch batch, int includedCount, long includedJsonBytes) =>
        (int)Math.Min(int.MaxValue, 16 + 8 + TrustedMasters.SignatureSize + 10 + batch.Count * 33L + includedCount * 6L + includedJsonBytes);

    /// <summary>
    /// A Changes body without the type byte (what the change log stores): table, then groups in full form, the hashes
    /// of carried objects left to be derived from their JSON (a replay checks every object's hash anyway).
    /// </summary>
    public static void EncodeGroupsBody(WireWriter w, string table, IReadOnlyList<(ChangeBatch Batch, Change[] Included)> groups)
    {
        w.String(table);
        w.VarUInt((ulong)groups.Count);
        foreach (var (batch, included) in groups) EncodeGroup(w, batch, included, 0, included.Length, derive: true);
    }

    public static void EncodeHeader(WireWriter w, string table, int groups)
    {
        w.U8((byte)MessageType.Changes);
        w.String(table);
        w.VarUInt((ulong)groups);
    }

    /// <summary>How a group names its batch.</summary>
    public enum GroupForm : byte
    {
        /// <summary>Author, clock, signature and every member.</summary>
        Full = 0,
        /// <summary>As <see cref="Full"/>, and the receiver keeps it in the link's <see cref="BatchMemory"/>.</summary>
        FullRemember = 1,
        /// <summary>Author and clock only: the batch is in the link's <see cref="BatchMemory"/>.</summary>
        Reference = 2,
    }

    /// <summary>
    /// Set on a full form: the members whose JSON the group carries come without their hash (op <see cref="OpDerived"/>),
    /// and the receiver computes it from the JSON, as it would have to check it anyway; the batch signature then covers
    /// the computed hashes. Saves 32 of a 100-byte object's 141 bytes on the wire. Sent only to peers that offer it.
    /// </summary>
    public const byte DerivedFlag = 0x10;

    private const byte OpAdd = 0, OpRemove = 1, OpDerived = 2;

    public static void EncodeGroup(WireWriter w, ChangeBatch batch, IReadOnlyList<Change> included, int start, int count, GroupForm form = GroupForm.Full, bool derive = false)
    {
        derive &= form != GroupForm.Reference;
        w.U8((byte)((byte)form | (derive ? DerivedFlag : 0)));
        w.Guid(batch.Author);
        w.U64(batch.Hlc);
        if (form != GroupForm.Reference)
        {
            w.Bytes(batch.Signature);
            int n = batch.Count;
            w.VarUInt((ulong)n);
            Span<bool> carried = derive ? stackalloc bool[n] : default;
            if (derive)
                for (int i = start; i < start + count; i++)
                    if (!included[i].Version.Removed) carried[included[i].Member] = true;
            // A thin batch's members are read under its table's lock, all but the carried ones (which need no hash).
            BatchMember[]? resolved = null;
            ReadOnlySpan<BatchMember> members = batch.Thick;
            if (members.IsEmpty)
            {
                resolved = ArrayPool<BatchMember>.Shared.Rent(n);
                batch.HeldBy!.CopyMembers(batch, resolved.AsSpan(0, n), carried);
                members = resolved.AsSpan(0, n);
            }
            var span = w.GetSpan(n * 33);
            int at = 0;
            for (int i = 0; i < n; i++)
            {
                if (derive && carried[i])
                {
                    span[at++] = OpDerived;
                    continue;
                }
                span[at] = members[i].Removed ? OpRemove : OpAdd;
                members[i].Hash.Write(span.Slice(at + 1, 32));
                at += 33;
            }
            w.Advance(at);
            if (resolved is not null) ArrayPool<BatchMember>.Shared.Return(resolved);
        }
        w.VarUInt((ulong)count);
        for (int i = start; i < start + count; i++)
        {
            var c = included[i];
            w.VarUInt((ulong)c.Member);
            if (!c.Version.Removed) w.Blob(c.Json.Span);
        }
    }

    /// <summary>
    /// Decodes a Changes body (after the type byte); the lists come from <paramref name="lists"/> when given. Object
    /// JSON is copied out of the reader's bytes, which a link reuses for its next frame, unless <paramref name="owned"/>
    /// is given: the bytes the reader reads, from their start, which nothing changes or reuses (a log record read
    /// into its own array); the changes then refer into it, and a replay copies nothing but into the table's slab.
    /// With <paramref name="chunks"/>, the copies go into chunks rented there (see <see cref="FrameChunks"/>).
    /// </summary>
    public static (string Table, List<(ChangeBatch Batch, List<Change> Included)> Groups) Decode(ref WireReader r, int maxObjectBytes, BatchMemory? memory = null, ChangeListPool? lists = null,
        ReadOnlyMemory<byte> owned = default, FrameChunks? chunks = null)
    {
        string table = r.String(WireLimits.MaxTableName);
        int groups = r.Count(WireLimits.MaxChangesPerFrame, 1 + 16 + 8 + 1);
        var result = new List<(ChangeBatch, List<Change>)>(groups);
        // Hashes are checked together once the frame is read: in SIMD lanes and on every core (see HashCheck).
        var check = new HashCheck();
        var kept = new FrameJson(chunks);
        List<int>? derivedGroups = null;
        for (int g = 0; g < groups; g++)
        {
            byte formByte = r.U8();
            bool derived = (formByte & DerivedFlag) != 0;
            var form = (GroupForm)(formByte & ~DerivedFlag);
            if (form > GroupForm.Reference || (derived && form == GroupForm.Reference)) throw new ProtocolException($"unknown batch form {formByte}");
            Guid author = r.Guid();
            ulong hlc = r.U64();
            ChangeBatch batch;
            // Members whose hash is derived from the JSON this group carries: each must be carried exactly once.
            bool[]? pending = null;
            int pendingCount = 0;
            if (form == GroupForm.Reference)
            {
                if (memory is null || !memory.TryGet(author, hlc, out batch))
                    throw new ProtocolException($"reference to batch {author}/{hlc}, which this link did not carry");
            }
            else
            {
                byte[] signature = r.Bytes(TrustedMasters.SignatureSize).ToArray();
                int n = r.Count(ChangeBatch.MaxMembers, derived ? 1 : 33);
                if (n == 0) throw new ProtocolException("empty change batch");
                var members = new BatchMember[n];
                for (int i = 0; i < n; i++)
                {
                    byte op = r.U8();
                    if (op == OpDerived && derived)
                    {
                        (pending ??= new bool[n])[i] = true;
                        pendingCount++;
                        continue;
                    }
                    if (op > OpRemove) throw new ProtocolException($"unknown change op {op}");
                    members[i] = new BatchMember(ObjectHash.Read(r.Bytes(ObjectHash.Size)), op == OpRemove);
                }
                batch = new ChangeBatch(author, hlc, members, signature);
                if (form == GroupForm.FullRemember)
                {
                    if (memory is null) throw new ProtocolException("a batch to remember outside a link");
                    // Remembered now, complete once the frame's hashes are computed (before any later frame refers to it).
                    memory.Remember(batch);
                }
            }
            var members2 = batch.Members; // a remembered batch made thin since is resolved (rare)
            int n2 = members2.Length;
            int k = r.Count(n2, 1);
            var included = lists?.Rent(k) ?? new List<Change>(k);
            // Filled through a span (a list's Add for Change is a generic method a ReadyToRun image does not hold);
            // a list left half filled by a bad frame is dropped with the frame.
            CollectionsMarshal.SetCount(included, k);
            var fill = CollectionsMarshal.AsSpan(included);
            for (int i = 0; i < k; i++)
            {
                ulong index = r.VarUInt();
                if (index >= (ulong)n2) throw new ProtocolException($"change refers to member {index} of a batch of {n2}");
                var m = members2[index];
                ReadOnlyMemory<byte> json = default;
                if (pending is not null && pending[index])
                {
                    pending[index] = false;
                    pendingCount--;
                    json = Json(ref r, maxObjectBytes, ref kept, owned);
                    check.Derive(json, members2, (int)index);
                }
                else if (!m.Removed)
                {
                    json = Json(ref r, maxObjectBytes, ref kept, owned);
                    check.Add(json, m.Hash);
                }
                fill[i] = new Change(m.Hash, batch.VersionOf(m), json, batch, (int)index);
            }
            if (pendingCount != 0) throw new ProtocolException($"{pendingCount} members without a hash are not carried by their group");
            result.Add((batch, included));
            if (derived) (derivedGroups ??= []).Add(result.Count - 1);
        }
        r.ExpectEnd();
        if (!check.Run()) throw new ProtocolException("an object does not match its hash");
        // Derived hashes are in their member lists now: the changes that carry them take them over.
        foreach (int g in derivedGroups ?? [])
        {
            var (batch, included) = result[g];
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(included);
            for (int i = 0; i < span.Length; i++) span[i] = span[i] with { Hash = batch.Members[span[i].Member].Hash };
        }
        return (table, result);

        static ReadOnlyMemory<byte> Json(ref WireReader r, int maxObjectBytes, ref FrameJson kept, ReadOnlyMemory<byte> owned)
        {
            var blob = r.Blob(maxObjectBytes);
            return owned.IsEmpty ? kept.Keep(blob) : owned.Slice(r.Position - blob.Length, blob.Length);
        }
    }
}

internal sealed record TableDigest(string Table, long Count, ulong Sum);

/// <summary>Opens a reconciliation round: the sender's tables with entry counts and fingerprint sums.</summary>
internal sealed record SyncSummaryMessage(bool IsReply, IReadOnlyList<TableDigest> Tables)
{
    public void Encode(WireWriter w)
    {
        w.U8((byte)MessageType.SyncSummary);
        w.U8(IsReply ? (byte)1 : (byte)0);
        w.VarUInt((ulong)Tables.Count);
        foreach (var t in Tables) { w.String(t.Table); w.VarUInt((ulong)t.Count); w.U64(t.Sum); }
    }

    public static SyncSummaryMessage Decode(ref WireReader r)
    {
        bool reply = (r.U8() & 1) != 0;
        int n = r.Count(WireLimits.MaxTables, 10);
        var list = new TableDigest[n];
        for (int i = 0; i < n; i++) list[i] = new TableDigest(r.String(WireLimits.MaxTableName), (long)r.VarUInt(), r.U64());
        r.ExpectEnd();
        return new SyncSummaryMessage(reply, list);
    }
}

/// <summary>
/// The clock of the newest change a side holds from each master, per table (tables it holds nothing of are left out).
/// Sent when a link forms, before the round's summary: the other side pushes every change it holds that is newer than
/// what this side has from that change's master (all of a master this side has nothing from), which is, after an
/// outage, what was missed; it replies with its own (<see cref="IsReply"/>) so the push goes both ways. Nodes that do
/// not know this message drop it as an unknown type and reconcile as before.
/// </summary>
internal sealed record SyncSinceMessage(bool IsReply, IReadOnlyList<(string Table, IReadOnlyDictionary<Guid, ulong> Newest)> Tables)
{
    /// <summary>Masters listed per table at most; a table with more is left to the summary's descent.</summary>
    public const int MaxAuthors = 1024;

    public void Encode(WireWriter w)
    {
        w.U8((byte)MessageType.SyncSince);
        w.U8(IsReply ? (byte)1 : (byte)0);
        w.VarUInt((ulong)Tables.Count);
        foreach (var (table, newest) in Tables)
        {
            w.String(table);
            w.VarUInt((ulong)newest.Count);
            foreach (var (author, hlc) in newest) { w.Guid(author); w.U64(hlc); }
        }
    }

    public static SyncSinceMessage Decode(ref WireReader r)
    {
        bool reply = (r.U8() & 1) != 0;
        int n = r.Count(WireLimits.MaxTables, 2);
        var list = new (string, IReadOnlyDictionary<Guid, ulong>)[n];
        for (int i = 0; i < n; i++)
        {
            string table = r.String(WireLimits.MaxTableName);
            int authors = r.Count(MaxAuthors, 24);
            var newest = new Dictionary<Guid, ulong>(authors);
            for (int k = 0; k < authors; k++)
            {
                var author = r.Guid();
                ulong hlc = r.U64();
                if (!newest.TryAdd(author, hlc)) throw new ProtocolException("a master is listed twice for one table");
            }
            list[i] = (table, newest);
        }
        r.ExpectEnd();
        return new SyncSinceMessage(reply, list);
    }
}

/// <summary>"Send me the 16 child summaries of these ranges at this depth." Also used for RangeRequest.</summary>
internal sealed record RangesMessage(MessageType Type, string Table, int Depth, RangeMode Mode, IReadOnlyList<ulong> Prefixes)
{
    public void Encode(WireWriter w)
    {
        w.U8((byte)Type);
        w.String(Table);
        w.U8((byte)Depth);
        w.U8((byte)Mode);
        w.VarUInt((ulong)Prefixes.Count);
        foreach (var p in Prefixes) w.VarUInt(p);
    }

    public static RangesMessage Decode(ref WireReader r, MessageType type)
    {
        string table = r.String(WireLimits.MaxTableName);
        int depth = r.U8();
        if (depth > 16) throw new ProtocolException($"range depth {depth} out of bounds");
        byte mode = r.U8();
        if (mode > 1) throw new ProtocolException($"unknown range mode {mode}");
        int n = r.Count(WireLimits.MaxRanges, 1);
        var list = new ulong[n];
        for (int i = 0; i < n; i++) list[i] = r.VarUInt();
        r.ExpectEnd();
        return new RangesMessage(type, table, depth, (RangeMode)mode, list);
    }
}

internal enum RangeMode : byte
{
    /// <summary>Reply with (hash, version) of every entry in the ranges.</summary>
    Versions = 0,
    /// <summary>Reply with every entry in the ranges, JSON included.</summary>
    Entries = 1,
}

/// <summary>Child summaries of requested ranges: for each range, 16 (count, sum) pairs.</summary>
internal sealed record SyncNodesMessage(string Table, int Depth, IReadOnlyList<RangeSummary> Ranges)
{
    public void Encode(WireWriter w)
    {
        w.U8((byte)MessageType.SyncNodes);
        w.String(Table);
        w.U8((byte)Depth);
        w.VarUInt((ulong)Ranges.Count);
        foreach (var s in Ranges)
        {
            w.VarUInt(s.Prefix);
            for (int c = 0; c < 16; c++)
            {
                w.VarUInt((ulong)s.Counts[c]);
                if (s.Counts[c] != 0) w.U64(s.Sums[c]);
            }
        }
    }

    public static SyncNodesMessage Decode(ref WireReader r)
    {
        string table = r.String(WireLimits.MaxTableName);
        int depth = r.U8();
        if (depth > 15) throw new ProtocolException($"range depth {depth} out of bounds");
        int n = r.Count(WireLimits.MaxRanges, 17);
        var list = new RangeSummary[n];
        for (int i = 0; i < n; i++)
        {
            var s = list[i] = new RangeSummary(r.VarUInt());
            for (int c = 0; c < 16; c++)
            {
                s.Counts[c] = (long)r.VarUInt();
                if (s.Counts[c] != 0) s.Sums[c] = r.U64();
            }
        }
        r.ExpectEnd();
        return new SyncNodesMessage(table, depth, list);
    }
}

/// <summary>
/// (hash, version) pairs of the entries in some ranges, which are named again so the reply stands alone. Authors are
/// listed once per frame and referred to by index.
/// </summary>
internal static class RangeVersionsCodec
{
    public static void Encode(WireWriter w, string table, int depth, IReadOnlyCollection<ulong> prefixes, IReadOnlyList<Change> entries)
    {
        w.U8((byte)MessageType.RangeVersions);
        w.String(table);
        w.U8((byte)depth);
        w.VarUInt((ulong)prefixes.Count);
        foreach (var p in prefixes) w.VarUInt(p);
        var authors = new Dictionary<Guid, int>();
        foreach (var e in entries) authors.TryAdd(e.Version.Author, authors.Count);
        w.VarUInt((ulong)authors.Count);
        foreach (var a in authors.Keys) w.Guid(a);
        w.VarUInt((ulong)entries.Count);
        foreach (var e in entries)
        {
            e.Hash.Write(w.GetSpan(32)); w.Advance(32);
            w.U64(e.Version.Hlc);
            w.VarUInt(((ulong)authors[e.Version.Author] << 1) | (e.Version.Removed ? 1UL : 0UL));
        }
    }

    public static (string Table, int Depth, List<ulong> Prefixes, List<(ObjectHash Hash, EntryVersion Version)> Entries) Decode(ref WireReader r)
    {
        string table = r.String(WireLimits.MaxTableName);
        int depth = r.U8();
        if (depth > 16) throw new ProtocolException($"range depth {depth} out of bounds");
        int np = r.Count(WireLimits.MaxRanges, 1);
        var prefixes = new List<ulong>(np);
        for (int i = 0; i < np; i++) prefixes.Add(r.VarUInt());
        int na = r.Count(65536, 16);
        var authors = new Guid[na];
        for (int i = 0; i < na; i++) authors[i] = r.Guid();
        int n = r.Count(WireLimits.MaxChangesPerFrame, 41);
        var list = new List<(ObjectHash, EntryVersion)>(n);
        for (int i = 0; i < n; i++)
        {
            var h = ObjectHash.Read(r.Bytes(32));
            ulong hlc = r.U64();
            ulong a = r.VarUInt();
            if ((a >> 1) >= (ulong)na) throw new ProtocolException("version refers to an unknown author");
            list.Add((h, new EntryVersion(hlc, authors[a >> 1], (a & 1) != 0)));
        }
        r.ExpectEnd();
        return (table, depth, prefixes, list);
    }
}

/// <summary>"Send me these entries."</summary>
internal static class EntryRequestCodec
{
    public static void Encode(WireWriter w, string table, IReadOnlyList<ObjectHash> hashes)
    {
        w.U8((byte)MessageType.EntryRequest);
        w.String(table);
        w.VarUInt((ulong)hashes.Count);
        foreach (var h in hashes) { h.Write(w.GetSpan(32)); w.Advance(32); }
    }

    public static (string Table, List<ObjectHash> Hashes) Decode(ref WireReader r)
    {
        string table = r.String(WireLimits.MaxTableName);
        int n = r.Count(WireLimits.MaxChangesPerFrame, 32);
        var list = new List<ObjectHash>(n);
        for (int i = 0; i < n; i++) list.Add(ObjectHash.Read(r.Bytes(32)));
        r.ExpectEnd();
        return (table, list);
    }
}
