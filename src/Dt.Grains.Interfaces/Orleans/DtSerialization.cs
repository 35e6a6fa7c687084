using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Dt;

/// <summary>What Orleans needs to carry Dt's calls, on silos and clients alike: the DTOs and the
/// JsonElement converter are generated into this assembly; <see cref="DtException"/> crosses with its
/// message and <c>Data["code"]</c> once "Dt" is a supported exception namespace (Orleans otherwise sends a generic
/// exception in its place).</summary>
public static class DtSerialization
{
    public static IServiceCollection AddDtSerialization(this IServiceCollection services)
    {
        services.Configure<ExceptionSerializationOptions>(o =>
        {
            if (!o.SupportedNamespacePrefixes.Contains("Dt")) o.SupportedNamespacePrefixes.Add("Dt");
        });
        return services;
    }
}
