using System.Net;
using System.Net.Sockets;
using Dt.Grains.Hosting;
using Dt.Hosting;
using Dt.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Hosting;
using Orleans.TestingHost;
using OrleansCluster = Orleans.TestingHost.TestCluster;

namespace Dt.Tests.Orleans;

/// <summary>
/// A TestingHost cluster whose every silo is its own Dt node (AddDt), the nodes joined over Dt's TCP overlay on
/// loopback: the silo "Primary" is the master, each other silo links to it. Nodes keep their tables on disk under a
/// data directory per silo name, so a silo restarted under the same name finds them again.
/// </summary>
public sealed class DtClusterKit : IAsyncDisposable
{
    public const string Master = "Primary";

    private readonly string _dataDir;

    private DtClusterKit(OrleansCluster cluster, string dataDir)
    {
        Cluster = cluster;
        _dataDir = dataDir;
    }

    public OrleansCluster Cluster { get; }

    /// <summary>The cluster client's Dt grains: calls that name no node go to a master's silo.</summary>
    public DtGrainFactory Dt => new(Cluster.Client);

    public IReadOnlyList<string> SiloNames => Cluster.Silos.Select(s => s.Name).ToList();

    public static async Task<DtClusterKit> StartAsync(int silos = 3)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "dt-orleans-" + Guid.NewGuid().ToString("N")[..8]);
        var master = MasterSigningKey.Generate();
        var builder = new TestClusterBuilder((short)silos);
        builder.Properties["DtTest:Key"] = NetworkKey.Generate().ToBase64();
        builder.Properties["DtTest:MasterKey"] = master.ExportPrivateBase64();
        builder.Properties["DtTest:MasterPublicKey"] = master.PublicKeyBase64;
        builder.Properties["DtTest:DataDir"] = dataDir;
        // Dt ports per silo name, fixed up front so the other nodes know where the master listens.
        var names = new[] { Master }.Concat(Enumerable.Range(1, silos + 2).Select(i => $"Secondary_{i}"));
        foreach (var name in names) builder.Properties[$"DtTest:Port:{name}"] = FreePort().ToString();
        builder.AddSiloBuilderConfigurator<DtSiloConfigurator>();
        builder.AddClientBuilderConfigurator<DtClientConfigurator>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new DtClusterKit(cluster, dataDir);
    }

    /// <summary>The silo's own services (its <see cref="DtSiloNode"/>, its <see cref="IDtGrainFactory"/>).</summary>
    public IServiceProvider Services(string silo) =>
        ((InProcessSiloHandle)Cluster.Silos.Concat(_restarted).Last(s => s.Name == silo)).SiloHost.Services;

    public DtNode Node(string silo) => Services(silo).GetRequiredService<DtSiloNode>().Node;

    private readonly List<SiloHandle> _restarted = [];

    /// <summary>Starts a silo that was killed again, under its old name (so on its old data directory and Dt port).</summary>
    public async Task RestartAsync(string silo)
    {
        int instance = silo == Master ? 0 : int.Parse(silo["Secondary_".Length..]);
        var handle = await Cluster.StartSiloAsync(instance, Cluster.Options, startSiloOnNewPort: true);
        lock (_restarted) _restarted.Add(handle);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var h in _restarted) await h.StopSiloAsync(stopGracefully: false);
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private sealed class DtSiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            var config = silo.Configuration;
            string name = config["Orleans:Name"] ?? throw new InvalidOperationException("TestingHost gave the silo no name");
            bool master = name == Master;
            var options = DtOptions.ForTests(config["DtTest:Key"]!, master, master ? config["DtTest:MasterKey"] : null);
            options.TrustedMasterKeys.Add(config["DtTest:MasterPublicKey"]!);
            options.ListenAddress = "127.0.0.1";
            options.Port = int.Parse(config[$"DtTest:Port:{name}"]!);
            if (!master) options.Peers.Add($"127.0.0.1:{config[$"DtTest:Port:{Master}"]}");
            options.Storage = DtStorage.Disk;
            options.DataDir = Path.Combine(config["DtTest:DataDir"]!, name);
            silo.AddDt(options, global::Dt.Gossip.GossipOptions.ForTests());
            silo.Services.AddLogging(l => l.AddProvider(new global::Dt.Tests.Engine.TestOutputLoggerProvider()).SetMinimumLevel(LogLevel.Warning));
        }
    }

    private sealed class DtClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder client)
        {
            client.Services.AddDtSerialization();
            client.AddMemoryStreams(DtStreams.ProviderName);
        }
    }
}
