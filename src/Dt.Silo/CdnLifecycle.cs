using Dt.Cdn;
using Orleans.Runtime;

namespace Dt.Silo;

/// <summary>The CDN could not listen on an address it was given (taken, not allowed, no certificate).</summary>
public sealed class CdnStartException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Starts the node's <see cref="CdnService"/> in the silo's lifecycle once the node runs (stage Active) and stops it
/// first on the way down. A failure to listen is reported naming the settings.
/// </summary>
internal sealed class CdnLifecycle(IServiceProvider services) : ILifecycleParticipant<ISiloLifecycle>
{
    private CdnService? _cdn;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(CdnLifecycle), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var cdn = services.GetRequiredService<CdnService>();
        try
        {
            await cdn.StartAsync(cancellationToken);
            _cdn = cdn;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            var o = cdn.Options;
            await cdn.DisposeAsync();
            throw new CdnStartException($"cannot serve the CDN on {string.Join(", ", o.Serve ? o.Urls : [])}{(o.Redirect ? $" (redirector {string.Join(", ", o.RedirectUrls)})" : "")} (Cdn:Urls, Cdn:RedirectUrls): {e.Message}", e);
        }
    }

    private Task StopAsync(CancellationToken cancellationToken) => _cdn?.StopAsync(cancellationToken) ?? Task.CompletedTask;
}
