using Dt.Protocol;

namespace Dt.Messaging;

/// <summary>A message flooded to every online node, deduplicated by id.</summary>
internal sealed record BroadcastMessage(Guid Id, Guid Origin, long SentAtUnixMs, byte[] Payload)
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
