using System.Diagnostics.Metrics;

namespace Dt;

/// <summary>
/// The engine's instruments, on the meter "Dt" (export with OpenTelemetry or watch with <c>dotnet-counters monitor -n Dt.Silo --counters Dt</c>).
/// One instance per node; instruments carry the node id as a tag.
/// </summary>
public sealed class DtMetrics : IDisposable
{
    public const string MeterName = "Dt";

    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?> _node;

    public DtMetrics(Guid nodeId, Func<long> liveObjects, Func<int> links)
    {
        _meter = new Meter(MeterName, "1.0");
        _node = new("dt.node", nodeId.ToString());
        LinksOpened = _meter.CreateCounter<long>("dt.links.opened", description: "Links established");
        LinksClosed = _meter.CreateCounter<long>("dt.links.closed", description: "Links closed, for any reason");
        HandshakesRefused = _meter.CreateCounter<long>("dt.handshakes.refused", description: "Peers refused during the handshake (wrong key, network, protocol, timeout)");
        IpBlocks = _meter.CreateCounter<long>("dt.ip.blocks", description: "Addresses blocked after repeated failed handshakes");
        ChangesApplied = _meter.CreateCounter<long>("dt.changes.applied", description: "Object changes that won on this node");
        ChangesRejected = _meter.CreateCounter<long>("dt.changes.rejected", description: "Changes dropped: not signed by a trusted master, or over a limit");
        MessagesDelivered = _meter.CreateCounter<long>("dt.messages.delivered", description: "Broadcast messages delivered on this node");
        _meter.CreateObservableGauge("dt.objects", () => new Measurement<long>(liveObjects(), _node), description: "Objects held, all tables");
        _meter.CreateObservableGauge("dt.links", () => new Measurement<int>(links(), _node), description: "Links up");
    }

    public Counter<long> LinksOpened { get; }
    public Counter<long> LinksClosed { get; }
    public Counter<long> HandshakesRefused { get; }
    public Counter<long> IpBlocks { get; }
    public Counter<long> ChangesApplied { get; }
    public Counter<long> ChangesRejected { get; }
    public Counter<long> MessagesDelivered { get; }

    public void Add(Counter<long> counter, long value = 1) => counter.Add(value, _node);

    public void Dispose() => _meter.Dispose();
}
