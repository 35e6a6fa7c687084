using Dt.Replication;

namespace Dt.Protocol;

/// <summary>The first byte of every frame's plaintext. Unknown types are logged and dropped, not fatal.</summary>
public enum MessageType : byte
{
    Hello = 1,
    Confirm = 2,
    Ping = 10,
    Pong = 11,
    PeerList = 12,
    Announce = 13,
    Goodbye = 14,
    Changes = 20,
    SyncSummary = 21,
    SyncNodesRequest = 22,
    SyncNodes = 23,
    RangeRequest = 24,
    RangeVersions = 25,
    EntryRequest = 26,
    Broadcast = 30,
    Masters = 31,
}

/// <summary>Limits every decoder enforces, whatever the frame size allows.</summary>
public static class WireLimits
{
    public const int MaxTableName = 128;
    public const int MaxHost = 255;
    public const int MaxPeersPerList = 1024;
    public const int MaxTables = 4096;
    public const int MaxRanges = 1 << 20;
    public const int MaxChangesPerFrame = 1 << 20;
    public const int MaxReason = 512;
}

public sealed record PingMessage(long SentTicks, bool IsPong)
{
    public void Encode(WireWriter w) { w.U8((byte)(IsPong ? MessageType.Pong : MessageType.Ping)); w.I64(SentTicks); }

    public static PingMessage Decode(ref WireReader r, bool isPong) { var m = new PingMessage(r.I64(), isPong); r.ExpectEnd(); return m; }
}

/// <summary>A node as another node knows it: where to dial it (port 0 = it has no listener).</summary>
public sealed record PeerRecord(Guid NodeId, bool IsMaster, string Host, ushort Port);

public sealed record PeerListMessage(IReadOnlyList<PeerRecord> Peers)
{
    public void Encode(WireWriter w)
    {
        w.U8((byte)MessageType.PeerList);
        w.VarUInt((ulong)Peers.Count);
        foreach (var p in Peers)
        {
            w.Guid(p.NodeId);
            w.U8(p.IsMaster ? (byte)1 : (byte)0);
            w.String(p.Host);
            w.U16(p.Port);
        }
    }

    public static PeerListMessage Decode(ref WireReader r)
    {
        int n = r.Count(WireLimits.MaxPeersPerList, 20);
        var list = new PeerRecord[n];
        for (int i = 0; i < n; i++)
            list[i] = new PeerRecord(r.Guid(), (r.U8() & 1) != 0, r.String(WireLimits.MaxHost), r.U16());
        r.ExpectEnd();
        return new PeerListMessage(list);
    }
}

/// <summary>A node's periodic "I am here", flooded to every node; tells each node which nodes share its fragment.</summary>
public sealed record AnnounceMessage(Guid Origin, ulong Sequence, bool IsMaster)
{
    public void Encode(WireWriter w) { w.U8((byte)MessageType.Announce); w.Guid(Origin); w.U64(Sequence); w.U8(IsMaster ? (byte)1 : (byte)0); }

    public static AnnounceMessage Decode(ref WireReader r) { var m = new AnnounceMessage(r.Guid(), r.U64(), (r.U8() & 1) != 0); r.ExpectEnd(); return m; }
}

public sealed record GoodbyeMessage(string Reason)
{
    public void Encode(WireWriter w) { w.U8((byte)MessageType.Goodbye); w.String(Reason); }

    public static GoodbyeMessage Decode(ref WireReader r) { var m = new GoodbyeMessage(r.String(WireLimits.MaxReason)); r.ExpectEnd(); return m; }
}

/// <summary>Codec of <see cref="Change"/> lists: op, clock, author, then the JSON for adds or the hash for removes.</summary>
public static class ChangeCodec
{
    public static void EncodeHeader(WireWriter w, string table, int count)
    {
        w.U8((byte)MessageType.Changes);
        w.String(table);
        w.VarUInt((ulong)count);
    }

    public static void EncodeOne(WireWriter w, in Change c)
    {
        w.U8(c.Version.Removed ? (byte)1 : (byte)0);
        w.U64(c.Version.Hlc);
        w.Guid(c.Version.Author);
        if (c.Version.Removed)
        {
            c.Hash.Write(w.GetSpan(ObjectHash.Size));
            w.Advance(ObjectHash.Size);
        }
        else
        {
            w.Blob(c.Json);
        }
    }

    public static byte[] Encode(string table, IReadOnlyList<Change> changes)
    {
        using var w = new WireWriter(64 + changes.Count * 128);
        EncodeHeader(w, table, changes.Count);
        foreach (var c in changes) EncodeOne(w, c);
        return w.ToArray();
    }

    /// <summary>Decodes a Changes body. The hash of an add is computed from its JSON, never taken from the wire.</summary>
    public static (string Table, List<Change> Changes) Decode(ref WireReader r, int maxObjectBytes)
    {
        string table = r.String(WireLimits.MaxTableName);
        int n = r.Count(WireLimits.MaxChangesPerFrame, 1 + 8 + 16 + 1);
        var list = new List<Change>(n);
        for (int i = 0; i < n; i++)
        {
            byte op = r.U8();
            if (op > 1) throw new ProtocolException($"unknown change op {op}");
            ulong hlc = r.U64();
            Guid author = r.Guid();
            if (op == 1)
            {
                var hash = ObjectHash.Read(r.Bytes(ObjectHash.Size));
                list.Add(new Change(hash, new EntryVersion(hlc, author, true), null));
            }
            else
            {
                var json = r.Blob(maxObjectBytes);
                list.Add(new Change(ObjectHash.Of(json), new EntryVersion(hlc, author, false), json.ToArray()));
            }
        }
        r.ExpectEnd();
        return (table, list);
    }
}

public sealed record TableDigest(string Table, long Count, ulong Sum);

/// <summary>Opens a reconciliation round: the sender's tables with entry counts and fingerprint sums.</summary>
public sealed record SyncSummaryMessage(bool IsReply, IReadOnlyList<TableDigest> Tables)
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

/// <summary>"Send me the 16 child summaries of these ranges at this depth." Also used for RangeRequest.</summary>
public sealed record RangesMessage(MessageType Type, string Table, int Depth, RangeMode Mode, IReadOnlyList<ulong> Prefixes)
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

public enum RangeMode : byte
{
    /// <summary>Reply with (hash, version) of every entry in the ranges.</summary>
    Versions = 0,
    /// <summary>Reply with every entry in the ranges, JSON included.</summary>
    Entries = 1,
}

/// <summary>Child summaries of requested ranges: for each range, 16 (count, sum) pairs.</summary>
public sealed record SyncNodesMessage(string Table, int Depth, IReadOnlyList<RangeSummary> Ranges)
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

/// <summary>(hash, version) pairs of the entries in some ranges, which are named again so the reply stands alone.</summary>
public static class RangeVersionsCodec
{
    public static void Encode(WireWriter w, string table, int depth, IReadOnlyCollection<ulong> prefixes, IReadOnlyList<Change> entries)
    {
        w.U8((byte)MessageType.RangeVersions);
        w.String(table);
        w.U8((byte)depth);
        w.VarUInt((ulong)prefixes.Count);
        foreach (var p in prefixes) w.VarUInt(p);
        w.VarUInt((ulong)entries.Count);
        foreach (var e in entries)
        {
            e.Hash.Write(w.GetSpan(32)); w.Advance(32);
            w.U64(e.Version.Hlc);
            w.Guid(e.Version.Author);
            w.U8(e.Version.Removed ? (byte)1 : (byte)0);
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
        int n = r.Count(WireLimits.MaxChangesPerFrame, 57);
        var list = new List<(ObjectHash, EntryVersion)>(n);
        for (int i = 0; i < n; i++)
        {
            var h = ObjectHash.Read(r.Bytes(32));
            list.Add((h, new EntryVersion(r.U64(), r.Guid(), (r.U8() & 1) != 0)));
        }
        r.ExpectEnd();
        return (table, depth, prefixes, list);
    }
}

/// <summary>"Send me these entries."</summary>
public static class EntryRequestCodec
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

/// <summary>A message flooded to every online node, deduplicated by id.</summary>
public sealed record BroadcastMessage(Guid Id, Guid Origin, long SentAtUnixMs, byte[] Payload)
{
    public void Encode(WireWriter w)
    {
        w.U8((byte)MessageType.Broadcast);
        w.Guid(Id);
        w.Guid(Origin);
        w.I64(SentAtUnixMs);
        w.Blob(Payload);
    }

    public static BroadcastMessage Decode(ref WireReader r, int maxPayload)
    {
        var m = new BroadcastMessage(r.Guid(), r.Guid(), r.I64(), r.Blob(maxPayload).ToArray());
        r.ExpectEnd();
        return m;
    }
}

/// <summary>Master node ids the sender knows. Sent first on every link and flooded when a new master is learned, so
/// a node always hears of a master before it is relayed that master's changes (links are FIFO).</summary>
public sealed record MastersMessage(IReadOnlyList<Guid> Masters)
{
    public void Encode(WireWriter w)
    {
        w.U8((byte)MessageType.Masters);
        w.VarUInt((ulong)Masters.Count);
        foreach (var m in Masters) w.Guid(m);
    }

    public static MastersMessage Decode(ref WireReader r)
    {
        int n = r.Count(65536, 16);
        var list = new Guid[n];
        for (int i = 0; i < n; i++) list[i] = r.Guid();
        r.ExpectEnd();
        return new MastersMessage(list);
    }
}
