using System.Net.Sockets;
using Dt.Dns;

namespace Dt.Silo;

/// <summary>The DNS service could not bind its address and port (taken, or not allowed).</summary>
public sealed class DnsStartException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Starts and stops the node's <see cref="DnsService"/> with the host. A socket error on start is the DNS port's (the
/// HTTP API's own failures are not socket errors of this service), so it is reported as such, naming the settings.
/// </summary>
internal sealed class DnsHostedService(DnsService dns) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await dns.StartAsync(cancellationToken);
        }
        catch (SocketException e)
        {
            var o = dns.Options;
            throw new DnsStartException($"cannot serve DNS on {o.ListenAddress} port {o.Port} (Dns:ListenAddress, Dns:Port): {e.Message}", e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => dns.StopAsync(cancellationToken);
}
