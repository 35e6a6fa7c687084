using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Dt.Client;

/// <summary>Where an Orleans client finds Dt's silos, and what it brings along. Defaults match Dt.Silo's.</summary>
public sealed class DtOrleansClientOptions
{
    /// <summary>The silos' Cluster:ClusterId. Default "dt".</summary>
    public string ClusterId { get; set; } = "dt";

    /// <summary>The silos' Cluster:ServiceId. Default "dt".</summary>
    public string ServiceId { get; set; } = "dt";

    /// <summary>Redis to find the gateways in (the silos' Cluster:Redis, with Cluster:Membership=Redis). Default null:
    /// localhost gateways at <see cref="GatewayPorts"/>.</summary>
    public string? Redis { get; set; }

    /// <summary>Gateway ports on this machine, without <see cref="Redis"/>. Default 11700 (a Dt.Silo on Dt:Port 9700).</summary>
    public List<int> GatewayPorts { get; set; } = [11700];

    /// <summary>Also register the "Dt" memory stream provider, to subscribe to <see cref="DtStreams"/> from the client. Default true.</summary>
    public bool Streams { get; set; } = true;
}

/// <summary>One call that makes an Orleans client a Dt client: clustering (localhost gateways or Redis),
/// serialization of Dt's DTOs and exceptions, the Dt stream provider, and an <see cref="IDtGrainFactory"/> in the
/// services (calls that name no node go to a master's silo when one is up; <see cref="DtGrainFactory.OnNode"/> names one).</summary>
public static class DtOrleansClientExtensions
{
    public static IClientBuilder UseDt(this IClientBuilder client, DtOrleansClientOptions? options = null)
    {
        options ??= new DtOrleansClientOptions();
        if (options.Redis is null)
        {
            if (options.GatewayPorts.Count == 0) throw new ArgumentException("name at least one gateway port, or a Redis", nameof(options));
            client.UseLocalhostClustering([.. options.GatewayPorts], options.ServiceId, options.ClusterId);
        }
        else
        {
            client.Configure<ClusterOptions>(c =>
            {
                c.ClusterId = options.ClusterId;
                c.ServiceId = options.ServiceId;
            });
            client.UseRedisClustering(options.Redis);
        }
        client.Services.AddDtSerialization();
        if (options.Streams) client.AddMemoryStreams(DtStreams.ProviderName);
        client.Services.AddSingleton<IDtGrainFactory>(sp => new DtGrainFactory(sp.GetRequiredService<IClusterClient>()));
        return client;
    }

    /// <summary><c>builder.UseOrleansClient(c => c.UseDt(options))</c>.</summary>
    public static TBuilder UseDtOrleansClient<TBuilder>(this TBuilder builder, Action<DtOrleansClientOptions>? configure = null)
        where TBuilder : IHostApplicationBuilder
    {
        var options = new DtOrleansClientOptions();
        configure?.Invoke(options);
        builder.UseOrleansClient(c => c.UseDt(options));
        return builder;
    }
}
