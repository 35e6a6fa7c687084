using Dt.Gossip;
using Dt.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Dt.Grains.Hosting;

/// <summary>
/// Runs the silo's Dt node in the silo's lifecycle: started at <see cref="ServiceLifecycleStage.ApplicationServices"/>
/// (before the silo accepts grain calls), stopped in the same stage on the way down (after it stopped taking them).
/// A node that cannot start (invalid settings, a port in use) fails the silo's start with that error.
/// </summary>
internal sealed class DtNodeLifecycle(DtSiloNode silo, ILoggerFactory loggers) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(DtNodeLifecycle), ServiceLifecycleStage.ApplicationServices, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken ct)
    {
        var options = silo.Options;
        options.NodeName ??= silo.Name;
        DtNode node;
        try
        {
            node = await DtNode.StartAsync(options, loggers, gossip: silo.Gossip);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new DtNodeStartException(
                $"cannot listen for peers on {options.ListenAddress} port {options.Port} (Dt:ListenAddress, Dt:Port): {e.Message}", e);
        }
        silo.OnStarted(node);
    }

    private async Task StopAsync(CancellationToken ct)
    {
        if (silo.OnStopping() is { } node) await node.DisposeAsync();
    }
}

/// <summary>The silo's Dt node could not start for a reason other than its settings (its peer port is taken, say).</summary>
public sealed class DtNodeStartException(string message, Exception inner) : Exception(message, inner);
