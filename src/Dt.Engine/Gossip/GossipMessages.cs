using System.Text.Json;
using Dt.Protocol;

namespace Dt.Gossip;

/// <summary>
/// Message types of the gossip modules (40 to 59 of the module range 40 to 79).
/// <list type="table">
/// <item><term>40 Digest</term><description>scuttlebutt SYN: (name, generation, max version, heartbeat, heartbeat age) per known member</description></item>
/// <item><term>41 Ack</term><description>requests (name, generation, from version) for what the initiator has newer, then deltas the initiator lacks</description></item>
/// <item><term>42 Deltas</term><description>the initiator's answer to the requests (ACK2)</description></item>
/// <item><term>43 Heartbeat</term><description>a node's own heartbeat, straight to each linked peer</description></item>
/// <item><term>44 Push</term><description>new deltas pushed at once to every link and relayed hop by hop</description></item>
/// <item><term>46 Say</term><description>an event of the say/hear bus, flooded once per node</description></item>
/// <item><term>50-53</term><description>shared maps: digest, ack, deltas, push (<see cref="Maps.MapMessages"/>)</description></item>
/// </list>
/// </summary>
internal static class GossipMessageTypes
{
    public const MessageType Digest = (MessageType)40;
    public const MessageType Ack = (MessageType)41;
    public const MessageType Deltas = (MessageType)42;
    public const MessageType Heartbeat = (MessageType)43;
    public const MessageType Push = (MessageType)44;
    public const MessageType Say = (MessageType)46;
    public const MessageType MapDigest = (MessageType)50;
    public const MessageType MapAck = (MessageType)51;
    public const MessageType MapDeltas = (MessageType)52;
    public const MessageType MapPush = (MessageType)53;
}

/// <summary>Limits every gossip decoder enforces on top of the configured sizes.</summary>
internal static class GossipLimits
{
    public const int MaxName = 128;
    public const int MaxEntriesPerMessage = 1 << 20;
    public const int MaxBatchesPerMessage = 1 << 17;
}

/// <summary>What a state entry is: a value, or a marker that the key was deleted or expired.</summary>
internal enum EntryKind : byte { Set = 0, Deleted = 1, Expired = 2 }

/// <summary>One member as a digest names it. <see cref="AgeMs"/>: how long ago the sender last heard the heartbeat.</summary>
internal readonly record struct DigestEntry(string Name, long Generation, long Version, long Heartbeat, long AgeMs);

/// <summary>A request for an owner's deltas after <see cref="From"/> in generation <see cref="Generation"/>.</summary>
internal readonly record struct DeltaRequest(string Name, long Generation, long From);

/// <summary>
/// One key as it travels: its version in the owner's sequence, its kind, the time it has left at the sender
/// (<see cref="RemainingMs"/>, 0 = no limit; for a value its TTL, for a deletion marker its retention), and its value.
/// </summary>
internal sealed record WireEntry(string Key, long Version, EntryKind Kind, long RemainingMs, byte[]? Value);

/// <summary>
/// An owner's deltas (Scuttlebutt): every entry of the owner with a version in (<see cref="From"/>, <see cref="To"/>],
/// in version order, as the sender holds them. A receiver that holds the owner up to at least <see cref="From"/>
/// applies it and then holds it up to <see cref="To"/>. <see cref="Reset"/>: the receiver drops what it holds of the
/// owner first (the sender forgot deletion markers the receiver may still need). <see cref="Floor"/>: the highest
/// version of a deletion marker the sender forgot; a receiver holding less than it must not apply a batch that is not a
/// reset. The header also carries the owner's heartbeat and its age at the sender, so that heartbeats spread with the state.
/// </summary>
internal sealed record OwnerBatch(string Name, Guid? NodeId, long Generation, long Heartbeat, long AgeMs, bool Reset, long From, long To, IReadOnlyList<WireEntry> Entries, long Floor = 0);

/// <summary>Encoders and bounds-checked decoders of the gossip messages (pure functions over bytes).</summary>
internal static class GossipCodec
{
    private const byte FlagMore = 1;
    private const byte BatchReset = 1, BatchNodeId = 2;

    /// <summary>Limits a decoder applies (from <see cref="GossipOptions"/>).</summary>
    public readonly record struct Limits(int MaxKeyBytes, int MaxValueBytes, int MaxMembers)
    {
        public static Limits From(GossipOptions o) => new(o.MaxKeyBytes, o.MaxValueBytes, o.MaxMembers);
    }

    // ---- digest ------------------------------------------------------------------------------------------------

    public static void WriteDigestEntry(WireWriter w, in DigestEntry e)
    {
        w.String(e.Name);
        w.VarUInt((ulong)e.Generation);
        w.VarUInt((ulong)e.Version);
        w.VarUInt((ulong)e.Heartbeat);
        w.VarUInt((ulong)Math.Max(0, e.AgeMs));
    }

    public static List<DigestEntry> DecodeDigest(ReadOnlySpan<byte> body, Limits limits)
    {
        var r = new WireReader(body);
        r.U8(); // flags, none defined
        int n = r.Count(limits.MaxMembers + 1, 5);
        var list = new List<DigestEntry>(n);
        for (int i = 0; i < n; i++)
            list.Add(new DigestEntry(Name(ref r), Long(ref r), Long(ref r), Long(ref r), Long(ref r)));
        r.ExpectEnd();
        return list;
    }

    // ---- requests and batches ------------------------------------------------------------------------------------

    public static void WriteRequest(WireWriter w, in DeltaRequest q)
    {
        w.String(q.Name);
        w.VarUInt((ulong)q.Generation);
        w.VarUInt((ulong)q.From);
    }

    /// <summary>Writes one batch header and entries. <paramref name="entries"/> are in version order.</summary>
    public static void WriteBatch(WireWriter w, string name, Guid? nodeId, long generation, long heartbeat, long ageMs, bool reset,
        long from, long to, IReadOnlyList<WireEntry> entries, long floor = 0)
    {
        w.String(name);
        w.U8((byte)((reset ? BatchReset : 0) | (nodeId is null ? 0 : BatchNodeId)));
        if (nodeId is { } id) w.Guid(id);
        w.VarUInt((ulong)generation);
        w.VarUInt((ulong)heartbeat);
        w.VarUInt((ulong)Math.Max(0, ageMs));
        w.VarUInt((ulong)floor);
        w.VarUInt((ulong)from);
        w.VarUInt((ulong)to);
        w.VarUInt((ulong)entries.Count);
        foreach (var e in entries)
        {
            w.String(e.Key);
            w.VarUInt((ulong)e.Version);
            w.U8((byte)e.Kind);
            w.VarUInt((ulong)Math.Max(0, e.RemainingMs));
            if (e.Kind == EntryKind.Set) w.Blob(e.Value);
        }
    }

    /// <summary>Bytes an entry takes on the wire, near enough for budgeting.</summary>
    public static int EntrySize(WireEntry e) => e.Key.Length * 3 + 24 + (e.Value?.Length ?? 0);

    /// <summary>Writes the header of an Ack: flags and requests; batches follow with <see cref="WriteBatchCount"/>.</summary>
    public static void WriteAckStart(WireWriter w, bool more, IReadOnlyList<DeltaRequest> requests)
    {
        w.U8((byte)GossipMessageTypes.Ack);
        w.U8(more ? FlagMore : (byte)0);
        w.VarUInt((ulong)requests.Count);
        foreach (var q in requests) WriteRequest(w, q);
    }

    public static void WriteBatchCount(WireWriter w, int count) => w.VarUInt((ulong)count);

    public static (bool More, List<DeltaRequest> Requests, List<OwnerBatch> Batches) DecodeAck(ReadOnlySpan<byte> body, Limits limits)
    {
        var r = new WireReader(body);
        bool more = (r.U8() & FlagMore) != 0;
        int n = r.Count(limits.MaxMembers + 1, 3);
        var requests = new List<DeltaRequest>(n);
        for (int i = 0; i < n; i++) requests.Add(new DeltaRequest(Name(ref r), Long(ref r), Long(ref r)));
        var batches = DecodeBatches(ref r, limits);
        r.ExpectEnd();
        return (more, requests, batches);
    }

    /// <summary>Deltas (42) and Push (44): flags, then batches.</summary>
    public static (bool More, List<OwnerBatch> Batches) DecodeDeltas(ReadOnlySpan<byte> body, Limits limits)
    {
        var r = new WireReader(body);
        bool more = (r.U8() & FlagMore) != 0;
        var batches = DecodeBatches(ref r, limits);
        r.ExpectEnd();
        return (more, batches);
    }

    public static void WriteDeltasStart(WireWriter w, MessageType type, bool more)
    {
        w.U8((byte)type);
        w.U8(more ? FlagMore : (byte)0);
    }

    private static List<OwnerBatch> DecodeBatches(ref WireReader r, Limits limits)
    {
        int n = r.Count(Math.Min(GossipLimits.MaxBatchesPerMessage, limits.MaxMembers + 1), 8);
        var batches = new List<OwnerBatch>(n);
        int total = 0;
        for (int i = 0; i < n; i++)
        {
            string name = Name(ref r);
            byte flags = r.U8();
            if ((flags & ~(BatchReset | BatchNodeId)) != 0) throw new ProtocolException("unknown batch flags");
            Guid? nodeId = (flags & BatchNodeId) != 0 ? r.Guid() : null;
            long gen = Long(ref r), hb = Long(ref r), age = Long(ref r), floor = Long(ref r), from = Long(ref r), to = Long(ref r);
            if (to < from) throw new ProtocolException("batch range ends before it starts");
            if ((flags & BatchReset) != 0 && from != 0) throw new ProtocolException("a reset batch must start at version 0");
            int count = r.Count(GossipLimits.MaxEntriesPerMessage - total, 4);
            total += count;
            var entries = new WireEntry[count];
            long last = from;
            for (int j = 0; j < count; j++)
            {
                string key = r.String(limits.MaxKeyBytes);
                if (key.Length == 0) throw new ProtocolException("empty key");
                long version = Long(ref r);
                if (version <= last || version > to) throw new ProtocolException("batch entries out of version order or outside the range");
                last = version;
                byte kind = r.U8();
                if (kind > (byte)EntryKind.Expired) throw new ProtocolException($"unknown entry kind {kind}");
                long remaining = Long(ref r);
                byte[]? value = null;
                if (kind == (byte)EntryKind.Set) value = Json(ref r, limits.MaxValueBytes);
                entries[j] = new WireEntry(key, version, (EntryKind)kind, remaining, value);
            }
            batches.Add(new OwnerBatch(name, nodeId, gen, hb, age, (flags & BatchReset) != 0, from, to, entries, floor));
        }
        return batches;
    }

    // ---- heartbeat ---------------------------------------------------------------------------------------------

    public static void WriteHeartbeat(WireWriter w, string name, Guid nodeId, long generation, long version, long heartbeat)
    {
        w.U8((byte)GossipMessageTypes.Heartbeat);
        w.String(name);
        w.Guid(nodeId);
        w.VarUInt((ulong)generation);
        w.VarUInt((ulong)version);
        w.VarUInt((ulong)heartbeat);
    }

    public static (string Name, Guid NodeId, long Generation, long Version, long Heartbeat) DecodeHeartbeat(ReadOnlySpan<byte> body)
    {
        var r = new WireReader(body);
        var m = (Name(ref r), r.Guid(), Long(ref r), Long(ref r), Long(ref r));
        r.ExpectEnd();
        return m;
    }

    // ---- say ---------------------------------------------------------------------------------------------------

    public static void WriteSay(WireWriter w, Guid id, string origin, Guid originNodeId, string eventName, long remainingMs, ReadOnlySpan<byte> data)
    {
        w.U8((byte)GossipMessageTypes.Say);
        w.Guid(id);
        w.String(origin);
        w.Guid(originNodeId);
        w.String(eventName);
        w.VarUInt((ulong)Math.Max(0, remainingMs));
        w.Blob(data);
    }

    public static (Guid Id, string Origin, Guid OriginNodeId, string Event, long RemainingMs, byte[] Data) DecodeSay(ReadOnlySpan<byte> body, int maxValueBytes)
    {
        var r = new WireReader(body);
        var id = r.Guid();
        string origin = Name(ref r);
        var node = r.Guid();
        string ev = Name(ref r);
        long remaining = Long(ref r);
        byte[] data = Json(ref r, maxValueBytes);
        r.ExpectEnd();
        return (id, origin, node, ev, remaining, data);
    }

    // ---- shared helpers ----------------------------------------------------------------------------------------

    /// <summary>A node or event name: 1 to 128 UTF-8 bytes, no control characters.</summary>
    internal static string Name(ref WireReader r)
    {
        string s = r.String(GossipLimits.MaxName);
        if (!GossipOptions.IsValidName(s)) throw new ProtocolException("invalid name");
        return s;
    }

    /// <summary>A varint that must fit a non-negative long.</summary>
    internal static long Long(ref WireReader r)
    {
        ulong v = r.VarUInt();
        if (v > long.MaxValue) throw new ProtocolException("number out of range");
        return (long)v;
    }

    /// <summary>A blob that must be one well-formed JSON value.</summary>
    internal static byte[] Json(ref WireReader r, int maxBytes)
    {
        var span = r.Blob(maxBytes);
        if (!IsJson(span)) throw new ProtocolException("value is not well-formed JSON");
        return span.ToArray();
    }

    /// <summary>Whether the bytes are exactly one well-formed JSON value.</summary>
    public static bool IsJson(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty) return false;
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read()) return false;
            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
