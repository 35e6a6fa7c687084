using Dt.Diagnostics;
using Dt.Events;
using Dt.Model;
using Dt.Transport;
using Microsoft.Extensions.Logging;

namespace Dt.Modules;

/// <summary>
/// What a node hands each of its modules: who it is, its links, its event hub, its clocks, logging and metrics.
/// A module's own settings come through its constructor.
/// </summary>
internal sealed class ModuleContext(
    Guid nodeId,
    string? nodeName,
    bool isRoot,
    Func<IReadOnlyList<PeerLink>> links,
    EventHub events,
    HybridLogicalClock clock,
    TimeProvider time,
    ILoggerFactory loggers,
    PeerWarnings warnings,
    DtMetrics metrics)
{
    public Guid NodeId { get; } = nodeId;

    /// <summary>The node's configured name (Dt:NodeName), or null.</summary>
    public string? NodeName { get; } = nodeName;

    /// <summary>The node was configured with no peers to dial: a root of the overlay (the first node).</summary>
    public bool IsRoot { get; } = isRoot;

    /// <summary>The node's full links (node tests excluded), as of now.</summary>
    public IReadOnlyList<PeerLink> Links => links();

    public EventHub Events { get; } = events;

    public HybridLogicalClock Clock { get; } = clock;

    public TimeProvider Time { get; } = time;

    public ILoggerFactory Loggers { get; } = loggers;

    /// <summary>Warnings about a peer's messages, rate-limited per remote address.</summary>
    public PeerWarnings Warnings { get; } = warnings;

    public DtMetrics Metrics { get; } = metrics;
}
