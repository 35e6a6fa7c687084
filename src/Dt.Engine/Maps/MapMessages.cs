using Dt.Gossip;
using Dt.Protocol;

namespace Dt.Maps;

/// <summary>A map write as it travels.</summary>
internal sealed record MapWireItem(string Key, long Version, ulong Hlc, byte[]? Value);

/// <summary>One writer's writes to one map with a version in (<see cref="From"/>, <see cref="To"/>], in version order,
/// as the sender holds them (writes that lost to another writer's are not held, so not sent).</summary>
/// <see cref="Floor"/>: the highest version of the writer's tombstones the sender forgot; a receiver holding less must
/// not apply it (it is told to reset at its next sync).
internal sealed record MapBatch(string Map, Guid Writer, long From, long To, IReadOnlyList<MapWireItem> Items, long Floor = 0);

/// <summary>A map's version vector: per writer, the highest version reflected.</summary>
internal sealed record MapVector(string Map, IReadOnlyList<(Guid Writer, long Max)> Writers);

/// <summary>
/// Codec of the shared-map messages: 50 digest (each map's version vector), 51 ack (requests as (map, writer, from),
/// maps whose copy at the initiator must be reset, then batches), 52 deltas and 53 push (batches).
/// </summary>
internal static class MapMessages
{
    private const byte FlagMore = 1;
    public const int MaxWritersPerMap = 1 << 16;

    public static void WriteVector(WireWriter w, string map, IReadOnlyCollection<KeyValuePair<Guid, long>> writers)
    {
        w.String(map);
        w.VarUInt((ulong)writers.Count);
        foreach (var (writer, max) in writers)
        {
            w.Guid(writer);
            w.VarUInt((ulong)max);
        }
    }

    public static List<MapVector> DecodeDigest(ReadOnlySpan<byte> body, int maxMaps)
    {
        var r = new WireReader(body);
        r.U8();
        var list = ReadVectors(ref r, maxMaps);
        r.ExpectEnd();
        return list;
    }

    private static List<MapVector> ReadVectors(ref WireReader r, int maxMaps)
    {
        int n = r.Count(maxMaps + 1, 2);
        var list = new List<MapVector>(n);
        for (int i = 0; i < n; i++)
        {
            string map = MapName(ref r);
            int k = r.Count(MaxWritersPerMap, 17);
            var writers = new (Guid, long)[k];
            for (int j = 0; j < k; j++) writers[j] = (r.Guid(), GossipCodec.Long(ref r));
            list.Add(new MapVector(map, writers));
        }
        return list;
    }

    internal static void WriteBatch(WireWriter w, string map, Guid writer, long from, long to, IReadOnlyList<MapItem> items, long floor)
    {
        w.String(map);
        w.Guid(writer);
        w.VarUInt((ulong)floor);
        w.VarUInt((ulong)from);
        w.VarUInt((ulong)to);
        w.VarUInt((ulong)items.Count);
        foreach (var i in items)
        {
            w.String(i.Key);
            w.VarUInt((ulong)i.Version);
            w.U64(i.Hlc);
            w.U8(i.Deleted ? (byte)1 : (byte)0);
            if (!i.Deleted) w.Blob(i.Value);
        }
    }

    internal static int ItemSize(MapItem i) => i.Key.Length * 3 + 24 + (i.Value?.Length ?? 0);

    /// <summary>Ack: flags, requests, resets (map vectors of the responder), batches.</summary>
    public static void WriteAckStart(WireWriter w, bool more, IReadOnlyList<(string Map, Guid Writer, long From)> requests)
    {
        w.U8((byte)GossipMessageTypes.MapAck);
        w.U8(more ? FlagMore : (byte)0);
        w.VarUInt((ulong)requests.Count);
        foreach (var (map, writer, from) in requests)
        {
            w.String(map);
            w.Guid(writer);
            w.VarUInt((ulong)from);
        }
    }

    public static (bool More, List<(string Map, Guid Writer, long From)> Requests, List<MapVector> Resets, List<MapBatch> Batches)
        DecodeAck(ReadOnlySpan<byte> body, int maxMaps, int maxKeyBytes, int maxValueBytes)
    {
        var r = new WireReader(body);
        bool more = (r.U8() & FlagMore) != 0;
        int n = r.Count(GossipLimits.MaxBatchesPerMessage, 19);
        var requests = new List<(string, Guid, long)>(n);
        for (int i = 0; i < n; i++) requests.Add((MapName(ref r), r.Guid(), GossipCodec.Long(ref r)));
        var resets = ReadVectors(ref r, maxMaps);
        var batches = ReadBatches(ref r, maxKeyBytes, maxValueBytes);
        r.ExpectEnd();
        return (more, requests, resets, batches);
    }

    public static (bool More, List<MapBatch> Batches) DecodeDeltas(ReadOnlySpan<byte> body, int maxKeyBytes, int maxValueBytes)
    {
        var r = new WireReader(body);
        bool more = (r.U8() & FlagMore) != 0;
        var batches = ReadBatches(ref r, maxKeyBytes, maxValueBytes);
        r.ExpectEnd();
        return (more, batches);
    }

    private static List<MapBatch> ReadBatches(ref WireReader r, int maxKeyBytes, int maxValueBytes)
    {
        int n = r.Count(GossipLimits.MaxBatchesPerMessage, 22);
        var list = new List<MapBatch>(n);
        int total = 0;
        for (int i = 0; i < n; i++)
        {
            string map = MapName(ref r);
            var writer = r.Guid();
            long floor = GossipCodec.Long(ref r), from = GossipCodec.Long(ref r), to = GossipCodec.Long(ref r);
            if (to < from) throw new ProtocolException("map batch range ends before it starts");
            int k = r.Count(GossipLimits.MaxEntriesPerMessage - total, 11);
            total += k;
            var items = new MapWireItem[k];
            long last = from;
            for (int j = 0; j < k; j++)
            {
                string key = r.String(maxKeyBytes);
                if (key.Length == 0) throw new ProtocolException("empty map key");
                long version = GossipCodec.Long(ref r);
                if (version <= last || version > to) throw new ProtocolException("map items out of version order or outside the range");
                last = version;
                ulong hlc = r.U64();
                byte flags = r.U8();
                if (flags > 1) throw new ProtocolException("unknown map item flags");
                byte[]? value = flags == 1 ? null : GossipCodec.Json(ref r, maxValueBytes);
                items[j] = new MapWireItem(key, version, hlc, value);
            }
            list.Add(new MapBatch(map, writer, from, to, items, floor));
        }
        return list;
    }

    private static string MapName(ref WireReader r)
    {
        string s = r.String(128);
        if (!MapState.IsValidName(s)) throw new ProtocolException("invalid map name");
        return s;
    }
}
