using Dt.Cdn;
using Dt.Client;
using Dt.Dns;
using Dt.Silo.Api;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using OpenTelemetry.Metrics;

namespace Dt.Silo;

/// <summary>
/// Wires the silo's HTTP API into an ASP.NET Core app. <c>Program</c> uses it, and so do in-process tests that put a
/// <see cref="Hosting.DtNode"/> of their own behind it.
/// </summary>
public static class SiloHost
{
    public static IServiceCollection AddDtSilo(this IServiceCollection services, SiloOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton<SiloNode>();
        services.AddSingleton<EventStreamEndpoint>();
        services.Configure<KestrelServerOptions>(k =>
        {
            // Kestrel refuses a larger Content-Length before reading the body; RequestBody also counts chunked bodies.
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        // GET /metrics (guarded like /v1): the node's meter "Dt" (DtMetrics; Dt.Dns adds dt.dns.*), Orleans' and the runtime's.
        services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(Dt.Hosting.DtNode.MeterName, "Microsoft.Orleans")
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
        services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.TypeInfoResolverChain.Insert(0, DtJsonContext.Default);
            j.SerializerOptions.TypeInfoResolverChain.Add(DnsJsonContext.Default);
        });
        return services;
    }

    /// <summary>
    /// The DNS service (Dt.Dns) beside the node, when <see cref="DnsOptions.Enabled"/>: a <see cref="DnsService"/>
    /// over the silo's node, started in the silo's lifecycle once the node runs and stopped before it. The /v1/dns
    /// routes find it in the services; without it they answer 404. A port it cannot bind fails the start with a
    /// <see cref="DnsStartException"/> naming the settings.
    /// </summary>
    public static IServiceCollection AddDtSiloDns(this IServiceCollection services, DnsOptions options)
    {
        services.AddSingleton(options);
        if (!options.Enabled) return services;
        services.AddSingleton(sp => new DnsService(sp.GetRequiredService<SiloNode>().Node, options, sp.GetService<ILoggerFactory>(), sp.GetService<TimeProvider>()));
        services.AddSingleton<Orleans.ILifecycleParticipant<Orleans.Runtime.ISiloLifecycle>, DnsLifecycle>();
        return services;
    }

    /// <summary>
    /// The CDN (Dt.Cdn) beside the node, when <see cref="CdnOptions.Enabled"/>: a <see cref="CdnService"/> over the
    /// silo's node, started in the silo's lifecycle once the node runs and stopped before it (its last beacon says
    /// it went offline). An address it cannot bind fails the start with a <see cref="CdnStartException"/>.
    /// </summary>
    public static IServiceCollection AddDtSiloCdn(this IServiceCollection services, CdnOptions options)
    {
        services.AddSingleton(options);
        if (!options.Enabled) return services;
        services.AddSingleton(sp => new CdnService(sp.GetRequiredService<SiloNode>().Node, options, sp.GetService<ILoggerFactory>(), sp.GetService<TimeProvider>()));
        services.AddSingleton<Orleans.ILifecycleParticipant<Orleans.Runtime.ISiloLifecycle>, CdnLifecycle>();
        return services;
    }

    public static WebApplication UseDtSilo(this WebApplication app)
    {
        app.UseMiddleware<ErrorHandlingMiddleware>();
        app.UseMiddleware<ApiTokenMiddleware>();
        app.MapDtApi();
        app.MapPrometheusScrapingEndpoint(DtApiRoutes.Metrics);
        return app;
    }
}
