using Dt.Hosting;

namespace Dt.Silo;

/// <summary>
/// The running node the API serves. The node is started after the host is built (it logs through the host's
/// loggers) and before Kestrel listens, so no request ever finds it missing.
/// </summary>
public sealed class SiloNode
{
    private DtNode? _node;

    public DtNode Node => _node ?? throw new InvalidOperationException("the Dt node is not attached yet");

    public bool IsAttached => _node is not null;

    public void Attach(DtNode node)
    {
        if (Interlocked.CompareExchange(ref _node, node, null) is not null)
            throw new InvalidOperationException("a Dt node is already attached");
    }
}
