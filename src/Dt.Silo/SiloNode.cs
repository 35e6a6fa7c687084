using Dt.Grains.Hosting;
using Dt.Hosting;

namespace Dt.Silo;

/// <summary>
/// The running node the API serves: the silo's own (<see cref="DtSiloNode"/>, started in the Orleans silo's
/// lifecycle), or, in in-process tests, a node attached by hand. While there is none, calls get <c>unavailable</c>
/// (503) and /healthz says "starting".
/// </summary>
public sealed class SiloNode
{
    private DtNode? _node;
    private DtSiloNode? _silo;

    public DtNode Node => _node ?? _silo?.Node ?? throw new DtException(DtErrorCodes.Unavailable, "the Dt node is not started yet");

    public bool IsAttached => _node is not null || _silo?.IsRunning == true;

    /// <summary>The stable name of the node (Dt:NodeName or the silo's name), if it has one.</summary>
    public string? Name => _silo?.Name ?? _node?.Options.NodeName;

    public void Attach(DtNode node)
    {
        if (Interlocked.CompareExchange(ref _node, node, null) is not null || _silo is not null)
            throw new InvalidOperationException("a Dt node is already attached");
    }

    internal void Follow(DtSiloNode silo) => _silo = silo;
}
