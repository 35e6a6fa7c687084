using Dt.Cdn;
using Dt.Dns;
using Dt.Gossip;
using Dt.Hosting;

namespace Dt.Silo.Configuration;

/// <summary>
/// Everything the silo is told, read and checked before anything starts: the node's <see cref="DtOptions"/>, the
/// silo's <see cref="SiloOptions"/>, the DNS service's <see cref="DnsOptions"/>, the API's URLs and the network key.
/// <see cref="Errors"/> lists every problem, each naming its setting; start-up goes on only when it is empty.
/// </summary>
internal sealed class SiloSettings
{
    public required DtOptions Dt { get; init; }

    public required SiloOptions Silo { get; init; }

    /// <summary>The DNS service's settings (section "Dns"); off unless Dns:Enabled.</summary>
    public required DnsOptions Dns { get; init; }

    /// <summary>The CDN's settings (section "Cdn"); off unless Cdn:Enabled.</summary>
    public required CdnOptions Cdn { get; init; }

    /// <summary>The gossip modules' settings (section "Dt:Gossip"; default the LAN profile), attached to <see cref="Dt"/>
    /// before the node starts.</summary>
    public required GossipOptions Gossip { get; init; }

    /// <summary>The Orleans side: cluster, membership, ports (section "Cluster").</summary>
    public required ClusterSettings Cluster { get; init; }

    public required IReadOnlyList<string> ApiUrls { get; init; }

    public required NodeKeys Keys { get; init; }

    public List<string> Errors { get; } = [];

    public List<string> Warnings { get; } = [];

    public static SiloSettings Load(IConfiguration config)
    {
        var errors = new List<string>();
        var dt = new DtOptions();
        var silo = new SiloOptions();
        var dns = new DnsOptions();
        var cdn = new CdnOptions();
        var gossip = GossipOptions.Lan();
        var cluster = new ClusterSettings();
        StrictBinder.Bind(config.GetSection(DtOptions.Section), dt, errors, subsections: ["Gossip"]);
        StrictBinder.Bind(config.GetSection(GossipOptions.Section), gossip, errors);
        StrictBinder.Bind(config.GetSection(SiloOptions.Section), silo, errors);
        StrictBinder.Bind(config.GetSection(DnsOptions.Section), dns, errors);
        StrictBinder.Bind(config.GetSection(CdnOptions.Section), cdn, errors);
        StrictBinder.Bind(config.GetSection(ClusterSettings.Section), cluster, errors);
        var urls = Configuration.ApiUrls.Read(config);

        var warnings = new List<string>();
        int before = errors.Count;
        var keys = NodeKeys.Resolve(dt, errors, warnings);
        bool keyReported = errors.Skip(before).Any(e => e.StartsWith("Dt:Key ", StringComparison.Ordinal));
        // NodeKeys already said why a key is needed here; the generic "Dt:Key is required" would repeat it.
        errors.AddRange(dt.Validate().Where(e => !(keyReported && e.StartsWith("Dt:Key is required", StringComparison.Ordinal))));
        errors.AddRange(silo.Validate());
        // Checked whether or not the service is enabled: a setting given is a setting meant.
        errors.AddRange(dns.Validate());
        errors.AddRange(cdn.Validate());
        errors.AddRange(gossip.Validate());
        errors.AddRange(cluster.Validate(dt.Port));
        if (errors.Count == 0)
        {
            cluster.ResolvePorts(dt.Port);
            dt.NodeName ??= DefaultNodeName(dt.Port != 0 ? dt.Port.ToString() : "g" + cluster.GatewayPort);
        }
        errors.AddRange(Configuration.ApiUrls.Check(urls, hasToken: silo.ApiToken is not null));

        var settings = new SiloSettings { Dt = dt, Silo = silo, Dns = dns, Cdn = cdn, Gossip = gossip, Cluster = cluster, ApiUrls = urls, Keys = keys };
        settings.Errors.AddRange(errors.Distinct());
        settings.Warnings.AddRange(warnings);
        return settings;
    }

    /// <summary>"{host}-{Dt:Port}" ("{host}-g{gateway port}" with Dt:Port=0): stable across restarts with the same
    /// settings, distinct for nodes on one machine and, with distinct host names, across machines.</summary>
    internal static string DefaultNodeName(string port)
    {
        var host = new string(Environment.MachineName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '-').ToArray());
        if (host.Length == 0) host = "dt";
        if (host.Length > 100) host = host[..100];
        return $"{host}-{port}";
    }
}
