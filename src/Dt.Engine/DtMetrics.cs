using System.Diagnostics.Metrics;

namespace Dt;

/// <summary>Why a connection to the peer port was refused before it became a link.</summary>
internal enum RefusalReason
{
    /// <summary>The peer's network key is not one this node holds.</summary>
    WrongKey,
    /// <summary>The peer belongs to another network name.</summary>
    WrongNetwork,
    /// <summary>The peer named a key it could not prove it holds.</summary>
    BadProof,
    /// <summary>Not the Dt handshake: junk bytes, an oversized or misplaced frame, another protocol version.</summary>
    Protocol,
    /// <summary>No handshake within <c>Dt:HandshakeTimeout</c>.</summary>
    Timeout,
    /// <summary>The peer closed the connection during the handshake (a port scan, a TCP health check).</summary>
    Closed,
    /// <summary>Over <c>Dt:MaxHandshakesPerSecondPerIp</c>.</summary>
    RateLimited,
    /// <summary>From an address blocked after repeated failed handshakes.</summary>
    Blocked,
    /// <summary>Over <c>Dt:MaxInboundLinks</c> or <c>Dt:MaxInboundLinksPerIp</c>.</summary>
    InboundLimit,
}

/// <summary>Why a change received from a peer was dropped.</summary>
internal enum DropReason
{
    /// <summary>Signed by an author that is not a trusted master.</summary>
    UntrustedSigner,
    /// <summary>Signed as a trusted master, but the signature does not verify (forged or altered).</summary>
    BadSignature,
    /// <summary>The table holds <c>Dt:MaxObjectsPerTable</c> objects already.</summary>
    TableFull,
}

/// <summary>
/// The engine's counts, kept twice over at no cost on hot paths: plain <see cref="Interlocked"/> longs (read by
/// <see cref="Snapshot"/> for <c>GET /v1/node</c> and <c>dt status</c>) and observable instruments of the meter "Dt"
/// that read those longs when a collector asks (export with OpenTelemetry, e.g. the silo's <c>/metrics</c>, or
/// watch with <c>dotnet-counters monitor -n Dt.Silo --counters Dt</c>). One instance per node; every measurement
/// carries the node id as the tag <c>dt.node</c>; the tag lists are built once.
/// </summary>
internal sealed class DtMetrics : IDisposable
{
    public const string MeterName = "Dt";

    /// <summary>The <c>reason</c> tag values of <c>dt.handshakes.refused</c>, indexed by <see cref="RefusalReason"/>.</summary>
    public static IReadOnlyList<string> RefusalReasonNames { get; } =
        ["wrong_key", "wrong_network", "bad_proof", "protocol", "timeout", "closed", "rate_limited", "blocked", "inbound_limit"];

    /// <summary>The <c>reason</c> tag values of <c>dt.changes.dropped</c>, indexed by <see cref="DropReason"/>.</summary>
    public static IReadOnlyList<string> DropReasonNames { get; } = ["untrusted_signer", "bad_signature", "table_full"];

    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?>[] _node;
    private readonly KeyValuePair<string, object?>[][] _refusalTags;
    private readonly KeyValuePair<string, object?>[][] _dropTags;
    private readonly Func<long> _queuedBytes;
    private readonly Func<int> _ipsBlockedNow;
    private readonly long[] _refused = new long[RefusalReasonNames.Count];
    private readonly long[] _dropped = new long[DropReasonNames.Count];
    private long _linksOpened, _linksClosed, _bytesSent, _bytesReceived, _ipBlocks, _changesApplied, _messagesDelivered;

    public DtMetrics(Guid nodeId, Func<long> liveObjects, Func<int> links, Func<long>? queuedBytes = null, Func<int>? ipsBlockedNow = null)
    {
        _queuedBytes = queuedBytes ?? (() => 0);
        _ipsBlockedNow = ipsBlockedNow ?? (() => 0);
        _meter = new Meter(MeterName, "1.0");
        var node = new KeyValuePair<string, object?>("dt.node", nodeId.ToString());
        _node = [node];
        _refusalTags = RefusalReasonNames.Select(r => new[] { node, new KeyValuePair<string, object?>("reason", r) }).ToArray();
        _dropTags = DropReasonNames.Select(r => new[] { node, new KeyValuePair<string, object?>("reason", r) }).ToArray();

        _meter.CreateObservableCounter("dt.links.opened", () => One(ref _linksOpened), "{link}", "Links established");
        _meter.CreateObservableCounter("dt.links.closed", () => One(ref _linksClosed), "{link}", "Links closed, for any reason");
        _meter.CreateObservableGauge("dt.links", () => new Measurement<int>(links(), _node), "{link}", "Links up");
        _meter.CreateObservableCounter("dt.links.sent", () => One(ref _bytesSent), "By", "Bytes sent on links (frames as written to TCP, handshakes included)");
        _meter.CreateObservableCounter("dt.links.received", () => One(ref _bytesReceived), "By", "Bytes received on links (frames as read from TCP, handshakes included)");
        _meter.CreateObservableGauge("dt.links.queued", () => new Measurement<long>(_queuedBytes(), _node), "By", "Bytes queued toward peers, all links");
        _meter.CreateObservableCounter("dt.handshakes.refused", () => ByReason(_refused, _refusalTags), "{connection}",
            "Connections to the peer port refused before they became links, by reason");
        _meter.CreateObservableCounter("dt.ip.blocks", () => One(ref _ipBlocks), "{block}", "Addresses blocked after repeated failed handshakes");
        _meter.CreateObservableGauge("dt.ip.blocked", () => new Measurement<int>(_ipsBlockedNow(), _node), "{address}",
            "Addresses (IPv6: /64 prefixes) blocked now");
        _meter.CreateObservableCounter("dt.changes.applied", () => One(ref _changesApplied), "{change}", "Object changes from peers that won on this node");
        _meter.CreateObservableCounter("dt.changes.dropped", () => ByReason(_dropped, _dropTags), "{change}", "Object changes from peers dropped, by reason");
        _meter.CreateObservableCounter("dt.messages.delivered", () => One(ref _messagesDelivered), "{message}", "Broadcast messages delivered on this node");
        _meter.CreateObservableGauge("dt.objects", () => new Measurement<long>(liveObjects(), _node), "{object}", "Objects held, all tables");
    }

    private Measurement<long> One(ref long value) => new(Interlocked.Read(ref value), _node);

    private static IEnumerable<Measurement<long>> ByReason(long[] counts, KeyValuePair<string, object?>[][] tags)
    {
        var m = new Measurement<long>[counts.Length];
        for (int i = 0; i < counts.Length; i++) m[i] = new Measurement<long>(Interlocked.Read(ref counts[i]), tags[i]);
        return m;
    }

    public void LinkOpened() => Interlocked.Increment(ref _linksOpened);

    public void LinkClosed() => Interlocked.Increment(ref _linksClosed);

    public void BytesSent(long n) => Interlocked.Add(ref _bytesSent, n);

    public void BytesReceived(long n) => Interlocked.Add(ref _bytesReceived, n);

    public void HandshakeRefused(RefusalReason reason) => Interlocked.Increment(ref _refused[(int)reason]);

    public void IpBlocked() => Interlocked.Increment(ref _ipBlocks);

    public void ChangesApplied(long n) => Interlocked.Add(ref _changesApplied, n);

    public void ChangesDropped(DropReason reason, long n) => Interlocked.Add(ref _dropped[(int)reason], n);

    public void MessageDelivered() => Interlocked.Increment(ref _messagesDelivered);

    public long Refused(RefusalReason reason) => Interlocked.Read(ref _refused[(int)reason]);

    public long Dropped(DropReason reason) => Interlocked.Read(ref _dropped[(int)reason]);

    /// <summary>The counts now, as <c>GET /v1/node</c> shows them (the by-reason maps hold the reasons seen, in a fixed order).</summary>
    public NodeStats Snapshot()
    {
        var refused = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < _refused.Length; i++)
            if (Interlocked.Read(ref _refused[i]) is var n and > 0) refused[RefusalReasonNames[i]] = n;
        var dropped = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < _dropped.Length; i++)
            if (Interlocked.Read(ref _dropped[i]) is var n and > 0) dropped[DropReasonNames[i]] = n;
        return new NodeStats(
            LinksOpened: Interlocked.Read(ref _linksOpened),
            LinksClosed: Interlocked.Read(ref _linksClosed),
            BytesSent: Interlocked.Read(ref _bytesSent),
            BytesReceived: Interlocked.Read(ref _bytesReceived),
            QueuedBytes: _queuedBytes(),
            HandshakesRefused: refused.Values.Sum(),
            IpBlocks: Interlocked.Read(ref _ipBlocks),
            IpsBlockedNow: _ipsBlockedNow(),
            ChangesApplied: Interlocked.Read(ref _changesApplied),
            ChangesDropped: dropped.Values.Sum(),
            MessagesDelivered: Interlocked.Read(ref _messagesDelivered),
            HandshakesRefusedByReason: refused,
            ChangesDroppedByReason: dropped);
    }

    public void Dispose() => _meter.Dispose();
}
