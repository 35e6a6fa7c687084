using Dt.Client;
using Dt.Silo.Api;
using Microsoft.AspNetCore.Server.Kestrel.Core;

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
        services.ConfigureHttpJsonOptions(j => j.SerializerOptions.TypeInfoResolverChain.Insert(0, DtJsonContext.Default));
        return services;
    }

    public static WebApplication UseDtSilo(this WebApplication app)
    {
        app.UseMiddleware<ErrorHandlingMiddleware>();
        app.UseMiddleware<ApiTokenMiddleware>();
        app.MapDtApi();
        return app;
    }
}
