using Dt.Protocol;

namespace Dt.Messaging;

/// <summary>A message flooded to every online node, deduplicated by id.</summary>
internal sealed record BroadcastMessage(Guid Id, Guid Origin, long SentAtUnixMs, byte[] Payload)
{
    public void Encode(WireWriter w) => Encode(w, Id, Origin, SentAtUnixMs, Payload);

    public static void Encode(WireWriter w, Guid id, Guid origin, long sentAtUnixMs, ReadOnlySpan<byte> payload)
    {
        w.U8((byte)MessageType.Broadcast);
        w.Guid(id);
        w.Guid(origin);
        w.I64(sentAtUnixMs);
        w.Blob(payload);
    }

    public static BroadcastMessage Decode(ref WireReader r, int maxPayload)
    {
        var v = BroadcastView.Decode(ref r, maxPayload);
        return new BroadcastMessage(v.Id, v.Origin, v.SentAtUnixMs, v.Payload.ToArray());
    }
}

/// <summary>A received broadcast read in place: the payload still points into the frame, so a duplicate costs no copy.</summary>
internal readonly ref struct BroadcastView(Guid id, Guid origin, long sentAtUnixMs, ReadOnlySpan<byte> payload)
{
    public Guid Id { get; } = id;
    public Guid Origin { get; } = origin;
    public long SentAtUnixMs { get; } = sentAtUnixMs;
    public ReadOnlySpan<byte> Payload { get; } = payload;

    public static BroadcastView Decode(ref WireReader r, int maxPayload)
    {
        var v = new BroadcastView(r.Guid(), r.Guid(), r.I64(), r.Blob(maxPayload));
        r.ExpectEnd();
        return v;
    }
}
