using System.Net.Sockets;
using Dt.Hosting;
using Dt.Silo.Configuration;

namespace Dt.Silo;

/// <summary>
/// Runs one Dt node as a service: reads and checks the configuration (appsettings.json next to the binary,
/// environment, command line), starts the node, serves the HTTP API, and on SIGTERM/Ctrl-C stops the API, then the
/// node. With no arguments it starts the first master of a new network on the embedded defaults.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["--help" or "-h" or "-?" or "help"])
        {
            Console.Out.WriteLine(Usage);
            return 0;
        }
        // The command-line provider silently drops a last switch that has no value; say so instead.
        if (args is [.., var last] && last.StartsWith('-') && !last.Contains('='))
            return StartupError.Configuration([$"{last} needs a value (e.g. {last.TrimStart('-', '/')}=...)"]);

        WebApplicationBuilder builder;
        try
        {
            // appsettings.json is read from next to the binary, so `dotnet run --project src/Dt.Silo` from anywhere
            // gets the embedded defaults; relative paths (Dt:DataDir) stay relative to the working directory.
            builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException or ArgumentException)
        {
            return StartupError.Configuration([$"cannot read the configuration: {e.Message}"]);
        }

        var settings = SiloSettings.Load(builder.Configuration);
        if (settings.Errors.Count > 0) return StartupError.Configuration(settings.Errors);

        // A failed start (a port in use) is reported below as one line; the host's own error log would add a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        builder.Services.AddDtSilo(settings.Silo);
        builder.Services.AddDtSiloDns(settings.Dns); // off unless Dns:Enabled
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(10));
        await using var app = builder.Build();
        app.UseDtSilo();
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        var log = loggers.CreateLogger("Dt.Silo");
        foreach (var warning in settings.Warnings) SiloLog.ConfigurationWarning(log, warning);
        var keys = settings.Keys;
        if (keys.Network == KeySource.DataDir) SiloLog.KeyLoaded(log, keys.NetworkFile.Path);
        if (keys.Master == KeySource.DataDir) SiloLog.KeyLoaded(log, keys.MasterFile.Path);
        if (keys.MasterPublicKey is { } publicKey) SiloLog.MasterPublicKey(log, publicKey);

        DtNode node;
        try
        {
            // Validated with the other settings above; Attach checks again and throws DtConfigurationException.
            Dt.Gossip.GossipOptions.Attach(settings.Dt, settings.Gossip);
            node = await DtNode.StartAsync(settings.Dt, loggers);
        }
        catch (SocketException e)
        {
            return StartupError.Start($"cannot listen for peers on {settings.Dt.ListenAddress} port {settings.Dt.Port} (Dt:ListenAddress, Dt:Port): {e.Message}");
        }
        catch (DtConfigurationException e)
        {
            return StartupError.Configuration(e.Errors);
        }

        try
        {
            app.Services.GetRequiredService<SiloNode>().Attach(node);
            try
            {
                // Starts the DNS service when enabled (it needs the node attached above), then Kestrel.
                await app.StartAsync();
            }
            catch (DnsStartException e)
            {
                // A DNS port in use (say, a resolver already on port 53) or one the user may not bind.
                return StartupError.Start(e.Message);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or SocketException)
            {
                // A port in use, a port the user may not bind, an https URL without a certificate.
                return StartupError.Start($"cannot serve the HTTP API on {string.Join(", ", settings.ApiUrls)} (urls): {e.Message}");
            }

            var urls = app.Urls.ToList();
            if (keys.GeneratedAny && !await StoreGeneratedKeysAsync(settings, node, urls, log, app))
                return StartupError.Start($"cannot store the generated keys in {settings.Dt.DataDir} (Dt:DataDir)");
            SiloLog.Ready(log, node.NodeId, string.Join(' ', urls), node.Overlay.ListenEndPoint?.ToString() ?? "nothing (Dt:Listen=false)");

            await app.WaitForShutdownAsync();
            SiloLog.Stopping(log);
            return 0;
        }
        finally
        {
            // After the API has stopped: links close and the node's loops end before the process does.
            await node.DisposeAsync();
            SiloLog.Stopped(log);
        }
    }

    private const string Usage = """
        Dt.Silo: runs one Dt node and its HTTP API.

        Usage: dotnet run --project src/Dt.Silo -- [--Section:Setting=value ...] [--urls URL[;URL]]
               dotnet Dt.Silo.dll [--Section:Setting=value ...] [--urls URL[;URL]]

        With no arguments: the first master of a new network, peers on port 9700, the API on
        http://127.0.0.1:9780, data in ./dt-data (a network key is generated there and printed once).
        Settings also come from appsettings.json next to the binary and from the environment
        (Dt__Master=false, Silo__ApiToken=...). Common ones:
          --Dt:Master=true|false   --Dt:Port=9701        --Dt:Peers:0=host:port   --Dt:Key=BASE64
          --Dt:Network=NAME        --Dt:DataDir=PATH     --Silo:ApiToken=TOKEN    --Silo:MaxBodyBytes=N
          --Dns:Enabled=true       --Dns:Port=53         --Dns:ListenAddress=::   (DNS server, off by default)
          --Dt:Gossip:NodeName=NAME  --Dt:Gossip:HeartbeatInterval=00:00:00.5   (gossip state, event bus, maps)
        Every setting is described in docs/API.md (Dns: docs/DNS.md). Exit codes: 0 stopped cleanly,
        1 could not start, 2 invalid configuration.
        """;

    /// <summary>Stores the keys generated for this node, only now that the node and the API run (a failed start
    /// leaves no key behind that was never shown), and prints them once with the command that joins a second node.</summary>
    private static async Task<bool> StoreGeneratedKeysAsync(SiloSettings settings, DtNode node, IReadOnlyCollection<string> urls, ILogger log, WebApplication app)
    {
        var keys = settings.Keys;
        try
        {
            keys.StoreGenerated(settings.Dt);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"dt-silo: {e.Message}");
            await app.StopAsync();
            return false;
        }
        if (keys.Network == KeySource.Generated) SiloLog.KeyGenerated(log, keys.NetworkFile.Path);
        if (keys.Master == KeySource.Generated) SiloLog.KeyGenerated(log, keys.MasterFile.Path);
        // The one console write of the silo: what was generated and how a second node joins, shown once.
        Console.Out.WriteLine(JoinHint.Format(settings.Dt, keys, node.Port, urls));
        Console.Out.Flush();
        return true;
    }
}
