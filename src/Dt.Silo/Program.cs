using System.Net.Sockets;
using Dt.Grains.Hosting;
using Dt.Hosting;
using Dt.Silo.Configuration;
using Orleans.Dashboard;

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
        // The command-line provider silently drops what it does not understand; say so instead, before anything starts.
        if (CommandLineCheck.Check(args) is { Count: > 0 } argErrors) return StartupError.Configuration(argErrors);

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
        // Orleans logs a failed start (a port in use) as errors with stack traces, and its shutdown after that as
        // warnings, where the one line below says which setting to fix: hold its errors back until the silo has
        // started, and its lines after a failed start. Otherwise its lines keep their configured level.
        var orleansLevel = Enum.TryParse<LogLevel>(builder.Configuration["Logging:LogLevel:Orleans"], true, out var l) ? l : LogLevel.Warning;
        int state = 0; // 0 starting, 1 started, 2 failed to start
        builder.Logging.AddFilter("Orleans", level => level >= orleansLevel && Volatile.Read(ref state) switch
        {
            0 => level < LogLevel.Error,
            1 => true,
            _ => false,
        });
        builder.UseOrleans(silo => SiloCluster.Configure(silo, settings));
        builder.Services.AddDtSilo(settings.Silo);
        builder.Services.AddDtSiloDns(settings.Dns); // off unless Dns:Enabled
        builder.Services.AddDtSiloCdn(settings.Cdn); // off unless Cdn:Enabled
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(10));
        await using var app = builder.Build();
        var dtSilo = app.Services.GetRequiredService<DtSiloNode>();
        app.Services.GetRequiredService<SiloNode>().Follow(dtSilo);
        app.UseDtSilo();
        if (settings.Silo.Dashboard) app.MapOrleansDashboard(routePrefix: "/dashboard");
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        var log = loggers.CreateLogger("Dt.Silo");
        foreach (var warning in settings.Warnings) SiloLog.ConfigurationWarning(log, warning);
        var keys = settings.Keys;
        if (keys.Network == KeySource.DataDir) SiloLog.KeyLoaded(log, keys.NetworkFile.Path);
        if (keys.Master == KeySource.DataDir) SiloLog.KeyLoaded(log, keys.MasterFile.Path);

        var dataDir = DataDirSnapshot.Take(settings.Dt.DataDir);
        try
        {
            // Starts the Orleans silo, whose lifecycle starts the Dt node (then DNS, when enabled), then Kestrel.
            await app.StartAsync();
        }
        catch (Exception e)
        {
            Volatile.Write(ref state, 2);
            int code = StartupFailure(e, settings);
            await app.DisposeAsync(); // closes the node's files before what it created is removed
            dataDir.RemoveWhatIsNew();
            return code;
        }
        Volatile.Write(ref state, 1);

        var node = dtSilo.Node;
        var urls = app.Urls.ToList();
        if (keys.GeneratedAny && !await StoreGeneratedKeysAsync(settings, node, urls, log, app))
            return StartupError.Start($"cannot store the generated keys in {settings.Dt.DataDir} (Dt:DataDir)");
        // Only now, with the node running and its keys stored: a key printed by a start that failed would be one
        // that was never kept.
        if (keys.MasterPublicKey is { } publicKey && settings.Dt.Master && DtKeys.FingerprintOf(settings.Dt.MasterKey) is { } fingerprint)
            SiloLog.MasterPublicKey(log, publicKey, fingerprint);
        var o = settings.Cluster;
        SiloLog.Ready(log, dtSilo.Name, node.NodeId, string.Join(' ', urls), node.ListenEndPoint?.ToString() ?? "nothing (Dt:Listen=false)",
            o.GatewayPortFor(settings.Dt.Port), o.Membership.ToString(), o.ClusterId);

        await app.WaitForShutdownAsync();
        SiloLog.Stopping(log);
        // The silo's lifecycle stopped the node after the silo stopped taking grain calls.
        SiloLog.Stopped(log);
        return 0;
    }

    /// <summary>One clear line for a start that failed: the error that says which setting to look at, found among
    /// the wrappers Orleans and the host put around it.</summary>
    private static int StartupFailure(Exception e, SiloSettings settings)
    {
        var all = Flatten(e).ToList();
        if (all.OfType<DtConfigurationException>().FirstOrDefault() is { } config) return StartupError.Configuration(config.Errors);
        if (all.OfType<DtNodeStartException>().FirstOrDefault() is { } dt) return StartupError.Start(dt.Message);
        if (all.OfType<DnsStartException>().FirstOrDefault() is { } dns) return StartupError.Start(dns.Message);
        if (all.OfType<CdnStartException>().FirstOrDefault() is { } cdn) return StartupError.Start(cdn.Message);
        var o = settings.Cluster;
        if (all.OfType<StackExchange.Redis.RedisConnectionException>().FirstOrDefault() is { } redis)
            return StartupError.Start($"cannot reach Redis at {o.Redis} for clustering (Cluster:Redis): {redis.Message}");
        if (all.OfType<SocketException>().FirstOrDefault() is { } socket && !all.Any(x => x is IOException && x.Message.Contains("bind", StringComparison.OrdinalIgnoreCase)))
            return StartupError.Start($"cannot listen for Orleans on port {o.SiloPortFor(settings.Dt.Port)} (Cluster:SiloPort) and {o.GatewayPortFor(settings.Dt.Port)} (Cluster:GatewayPort): {socket.Message}");
        if (all.FirstOrDefault(x => x is IOException or InvalidOperationException or UnauthorizedAccessException) is { } http)
            // A port in use, a port the user may not bind, an https URL without a certificate.
            return StartupError.Start($"cannot serve the HTTP API on {string.Join(", ", settings.ApiUrls)} (urls): {http.Message}");
        return StartupError.Start(e.Message);
    }

    private static IEnumerable<Exception> Flatten(Exception e)
    {
        yield return e;
        var inner = e is AggregateException a ? a.InnerExceptions : e.InnerException is { } i ? [i] : (IEnumerable<Exception>)[];
        foreach (var x in inner)
            foreach (var y in Flatten(x))
                yield return y;
    }

    private const string Usage = """
        Dt.Silo: runs one Dt node as an Orleans silo, with its HTTP API.

        Usage: dotnet run --project src/Dt.Silo -- [--Section:Setting=value ...] [--urls URL[;URL]]
               dotnet Dt.Silo.dll [--Section:Setting=value ...] [--urls URL[;URL]]

        With no arguments: the first master of a new network, peers on port 9700, the API on
        http://127.0.0.1:9780, data in ./dt-data (a network key is generated there and printed once).
        Settings also come from appsettings.json next to the binary and from the environment
        (Dt__Master=false, Silo__ApiToken=...). Common ones:
          --Dt:Master=true|false   --Dt:Port=9701        --Dt:Peers:0=host:port   --Dt:Key=BASE64
          --Dt:Network=NAME        --Dt:DataDir=PATH     --Silo:ApiToken=TOKEN    --Silo:MaxBodyBytes=N
          --Dns:Enabled=true       --Dns:Port=53         --Dns:ListenAddress=::   (DNS server, off by default)
          --Cdn:Enabled=true       --Cdn:Set=site        --Cdn:Urls:0=http://127.0.0.1:9880  --Cdn:Redirect=true
                                   (CDN: serve a file set, beacons, redirector; off by default)
          --Dt:Gossip:NodeName=NAME  --Dt:Gossip:HeartbeatInterval=00:00:00.5   (gossip state, event bus, maps)
          --Dt:NodeName=NAME       --Cluster:GatewayPort=11700  --Cluster:Membership=Localhost|Redis
          --Cluster:Redis=127.0.0.1:6379  --Cluster:ClusterId=dt  --Cluster:SiloPort=10700
        Every setting is described in docs/API.md (Dns: docs/DNS.md; Cdn: docs/FILES.md). Exit codes: 0 stopped cleanly,
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
