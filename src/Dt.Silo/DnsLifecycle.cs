using System.Net.Sockets;
using Dt.Dns;
using Orleans.Runtime;

namespace Dt.Silo;

/// <summary>The DNS service could not bind its address and port (taken, or not allowed).</summary>
public sealed class DnsStartException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Starts the node's <see cref="DnsService"/> in the silo's lifecycle once the node runs (stage Active) and stops it
/// first on the way down. A socket error on start is the DNS port's, so it is reported as such, naming the settings.
/// </summary>
internal sealed class DnsLifecycle(IServiceProvider services) : ILifecycleParticipant<ISiloLifecycle>
{
    private DnsService? _dns;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(DnsLifecycle), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var dns = services.GetRequiredService<DnsService>();
        try
        {
            await dns.StartAsync(cancellationToken);
            _dns = dns;
        }
        catch (SocketException e)
        {
            var o = dns.Options;
            throw new DnsStartException($"cannot serve DNS on {o.ListenAddress} port {o.Port} (Dns:ListenAddress, Dns:Port): {e.Message}", e);
        }
    }

    private Task StopAsync(CancellationToken cancellationToken) => _dns?.StopAsync(cancellationToken) ?? Task.CompletedTask;
}
