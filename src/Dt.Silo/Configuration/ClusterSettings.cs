using System.Net;

namespace Dt.Silo.Configuration;

/// <summary>How silos find each other (Cluster:Membership).</summary>
public enum MembershipKind { Localhost, Redis }

/// <summary>The silo's Orleans settings (section "Cluster"; Orleans reads a section "Orleans" of its own): its
/// cluster, how clusters form, its ports. Every default is stated here; <see cref="Validate"/> names each bad setting.</summary>
public sealed class ClusterSettings
{
    public const string Section = "Cluster";

    /// <summary>Silos with the same cluster id (and the same membership store) form one Orleans cluster. Default "dt".</summary>
    public string ClusterId { get; set; } = "dt";

    /// <summary>Identity of the service across cluster deployments. Default "dt".</summary>
    public string ServiceId { get; set; } = "dt";

    /// <summary>How silos find each other: <c>Localhost</c> (this silo is a cluster of its own, for development and
    /// for a Dt node that runs alone) or <c>Redis</c> (every silo that names the same Redis and cluster id joins one
    /// cluster; clients find the gateways there). Default Localhost.</summary>
    public MembershipKind Membership { get; set; } = MembershipKind.Localhost;

    /// <summary>The Redis of Redis clustering (StackExchange.Redis configuration string). Default "127.0.0.1:6379".</summary>
    public string Redis { get; set; } = "127.0.0.1:6379";

    /// <summary>Port of silo-to-silo traffic. Default Dt:Port + 1000 (10700), so nodes on one machine with their own
    /// Dt:Port never collide; with Dt:Port=0, any free port.</summary>
    public int? SiloPort { get; set; }

    /// <summary>Port Orleans clients connect to. Default Dt:Port + 2000 (11700); with Dt:Port=0, any free port (the
    /// silo logs the one it took).</summary>
    public int? GatewayPort { get; set; }

    /// <summary>Address this silo tells other silos and clients to reach it at. Default 127.0.0.1 (one machine); set
    /// the machine's address when silos run on several.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    public int SiloPortFor(int dtPort) => SiloPort ?? (dtPort + 1000);

    public int GatewayPortFor(int dtPort) => GatewayPort ?? (dtPort + 2000);

    /// <summary>Fills in the ports not set: derived from Dt:Port, or free ones when Dt:Port is 0.</summary>
    public void ResolvePorts(int dtPort)
    {
        SiloPort ??= dtPort == 0 ? FreePort() : dtPort + 1000;
        GatewayPort ??= dtPort == 0 ? FreePort() : dtPort + 2000;
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public List<string> Validate(int dtPort)
    {
        var errors = new List<string>();
        foreach (var (name, value) in new[] { ("ClusterId", ClusterId), ("ServiceId", ServiceId) })
            if (string.IsNullOrWhiteSpace(value) || value.Length > 128 || value.Any(char.IsControl))
                errors.Add($"Cluster:{name} '{value}' must be 1 to 128 characters without control characters.");
        int silo = SiloPortFor(dtPort), gateway = GatewayPortFor(dtPort);
        if (silo is < 1 or > 65535)
            errors.Add($"Cluster:SiloPort {silo} must be between 1 and 65535.");
        if (gateway is < 1 or > 65535)
            errors.Add($"Cluster:GatewayPort {gateway} must be between 1 and 65535.");
        if (silo == gateway) errors.Add($"Cluster:SiloPort and Cluster:GatewayPort must differ (both {silo}).");
        if (dtPort != 0 && (silo == dtPort || gateway == dtPort)) errors.Add($"Cluster:SiloPort and Cluster:GatewayPort must differ from Dt:Port ({dtPort}).");
        if (!IPAddress.TryParse(AdvertisedAddress, out _)) errors.Add($"Cluster:AdvertisedAddress '{AdvertisedAddress}' is not an IP address.");
        if (Membership == MembershipKind.Redis && string.IsNullOrWhiteSpace(Redis)) errors.Add("Cluster:Redis is required with Cluster:Membership=Redis (e.g. 127.0.0.1:6379).");
        return errors;
    }
}
