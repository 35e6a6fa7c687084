using Dt.Protocol;

namespace Dt.Overlay;

internal sealed record PingMessage(long SentTicks, bool IsPong)
{
    public void Encode(WireWriter w) { w.U8((byte)(IsPong ? MessageType.Pong : MessageType.Ping)); w.I64(SentTicks); }

    public static PingMessage Decode(ref WireReader r, bool isPong) { var m = new PingMessage(r.I64(), isPong); r.ExpectEnd(); return m; }
}

/// <summary>A node as another node knows it: where to dial it (port 0 = it has no listener).</summary>
internal sealed record PeerRecord(Guid NodeId, bool IsMaster, string Host, ushort Port);

internal sealed record PeerListMessage(IReadOnlyList<PeerRecord> Peers)
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
internal sealed record AnnounceMessage(Guid Origin, ulong Sequence, bool IsMaster)
{
    public void Encode(WireWriter w) { w.U8((byte)MessageType.Announce); w.Guid(Origin); w.U64(Sequence); w.U8(IsMaster ? (byte)1 : (byte)0); }

    public static AnnounceMessage Decode(ref WireReader r) { var m = new AnnounceMessage(r.Guid(), r.U64(), (r.U8() & 1) != 0); r.ExpectEnd(); return m; }
}

internal sealed record GoodbyeMessage(string Reason)
{
    public void Encode(WireWriter w) { w.U8((byte)MessageType.Goodbye); w.String(Reason); }

    public static GoodbyeMessage Decode(ref WireReader r) { var m = new GoodbyeMessage(r.String(WireLimits.MaxReason)); r.ExpectEnd(); return m; }
}
