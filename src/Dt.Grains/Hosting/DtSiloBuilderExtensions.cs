using Dt.Gossip;
using Dt.Grains.Placement;
using Dt.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Dt.Grains.Hosting;

/// <summary>Makes an Orleans silo a Dt node, the way <c>AddMemoryGrainStorage</c> adds a storage provider.</summary>
public static class DtSiloBuilderExtensions
{
    /// <summary>
    /// Makes this silo a Dt node: its engine starts in the silo's lifecycle (before grain calls, stopped after
    /// them), Dt's grains are placed beside it, <see cref="IDtGrainFactory"/> resolves them (names no node: this one),
    /// Dt's exceptions and DTOs cross Orleans calls, and its events are published to the Orleans streams of
    /// <see cref="DtStreams"/> (memory streams, with a memory <c>PubSubStore</c> unless one is registered; pass
    /// <paramref name="streams"/> false to register the "Dt" stream provider yourself, or to do without).
    /// The node's name is <see cref="DtOptions.NodeName"/> when set (it then becomes the silo's name), else the silo's.
    /// The options are checked when the silo starts: invalid ones fail the start with a message naming each setting.
    /// </summary>
    public static ISiloBuilder AddDt(this ISiloBuilder builder, DtOptions options, GossipOptions? gossip = null, bool streams = true)
    {
        ArgumentNullException.ThrowIfNull(options);
        var services = builder.Services;
        if (options.NodeName is { } name) services.Configure<SiloOptions>(o => o.SiloName = name);
        builder.UseSiloMetadata(new Dictionary<string, string> { [DtClusterNodes.MasterMetadataKey] = options.Master ? "true" : "false" });
        services.AddSingleton(sp => new DtSiloNode(options.NodeName ?? sp.GetRequiredService<ILocalSiloDetails>().Name, options, gossip ?? GossipOptions.Lan()));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, DtNodeLifecycle>();
        services.AddSingleton<DtClusterNodes>();
        services.AddSingleton<IDtGrainFactory>(sp => new DtGrainFactory(sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<DtSiloNode>().Name));
        services.AddDtSerialization();
        builder.AddPlacementDirector<DtNodePlacement, DtNodePlacementDirector>();
        if (streams)
        {
            builder.AddMemoryStreams(DtStreams.ProviderName);
            if (!services.Any(s => s.IsKeyedService && Equals(s.ServiceKey, "PubSubStore")))
                builder.AddMemoryGrainStorage("PubSubStore");
            services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, DtStreamForwarder>();
        }
        return builder;
    }

    /// <summary>As <see cref="AddDt(ISiloBuilder, DtOptions, GossipOptions?, bool)"/>, with options set in code.</summary>
    public static ISiloBuilder AddDt(this ISiloBuilder builder, Action<DtOptions> configure, bool streams = true)
    {
        var options = new DtOptions();
        configure(options);
        return builder.AddDt(options, null, streams);
    }
}
