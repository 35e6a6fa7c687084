using System.Net;
using Dt.Grains.Hosting;
using Dt.Silo.Configuration;
using Orleans.Configuration;
using Orleans.Dashboard;
using StackExchange.Redis;

namespace Dt.Silo;

/// <summary>Configures the Orleans side of the silo from its settings: cluster identity, ports, clustering
/// (localhost or Redis), the Dt node (AddDt) and the dashboard.</summary>
internal static class SiloCluster
{
    public static void Configure(ISiloBuilder silo, SiloSettings settings)
    {
        var o = settings.Cluster;
        int dtPort = settings.Dt.Port, siloPort = o.SiloPortFor(dtPort), gatewayPort = o.GatewayPortFor(dtPort);
        if (o.Membership == MembershipKind.Localhost)
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, primarySiloEndpoint: null, serviceId: o.ServiceId, clusterId: o.ClusterId);
        }
        else
        {
            silo.Configure<ClusterOptions>(c =>
            {
                c.ClusterId = o.ClusterId;
                c.ServiceId = o.ServiceId;
            });
            silo.Configure<EndpointOptions>(e =>
            {
                e.AdvertisedIPAddress = IPAddress.Parse(o.AdvertisedAddress);
                e.SiloPort = siloPort;
                e.GatewayPort = gatewayPort;
            });
            silo.UseRedisClustering(r => r.ConfigurationOptions = ConfigurationOptions.Parse(o.Redis));
        }
        silo.AddDt(settings.Dt, settings.Gossip, settings.Silo.OrleansStreams);
        if (settings.Silo.Dashboard) silo.AddDashboard();
    }
}
