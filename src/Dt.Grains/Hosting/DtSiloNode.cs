using Dt.Gossip;
using Dt.Hosting;

namespace Dt.Grains.Hosting;

/// <summary>
/// The Dt node of this silo: its stable name (Dt:NodeName, else the silo's name), its settings, and the running
/// engine once the silo's lifecycle has started it. Grains and the silo's own services (HTTP API, DNS) reach the
/// node through it; before the start and after the stop they get <c>unavailable</c> at once.
/// </summary>
public sealed class DtSiloNode
{
    private DtNode? _node;

    internal DtSiloNode(string name, DtOptions options, GossipOptions gossip)
    {
        Name = name;
        Options = options;
        Gossip = gossip;
    }

    /// <summary>The name grain keys use for this node.</summary>
    public string Name { get; }

    public DtOptions Options { get; }

    public GossipOptions Gossip { get; }

    public bool IsRunning => Volatile.Read(ref _node) is not null;

    /// <summary>The running node; <c>unavailable</c> while it is not running.</summary>
    public DtNode Node => Volatile.Read(ref _node)
                          ?? throw new DtException(DtErrorCodes.Unavailable, $"the Dt node '{Name}' is not running (its silo is starting or stopping)");

    internal void OnStarted(DtNode node) => Volatile.Write(ref _node, node);

    internal DtNode? OnStopping() => Interlocked.Exchange(ref _node, null);
}
