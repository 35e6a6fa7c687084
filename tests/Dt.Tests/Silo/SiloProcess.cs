using System.Text.RegularExpressions;
using Dt.Client;

namespace Dt.Tests.Silo;

/// <summary>
/// The real Dt.Silo executable in a child process on loopback: any free ports (the API on 127.0.0.1:0, peers on
/// 127.0.0.1:0, both read back from what the silo reports), its own data directory, and the engine's fast timers.
/// </summary>
internal sealed partial class SiloProcess : IAsyncDisposable
{
    /// <summary>The engine's fast test profile (DtOptions.ForTests), as command-line settings.</summary>
    public static readonly string[] FastProfile =
    [
        "--Dt:ListenAddress=127.0.0.1", "--Dt:Port=0",
        "--Dt:PingInterval=00:00:00.2", "--Dt:LinkIdleTimeout=00:00:03", "--Dt:NodeTestInterval=00:00:02",
        "--Dt:HandshakeTimeout=00:00:03", "--Dt:ReconnectBaseDelay=00:00:00.05", "--Dt:ReconnectMaxDelay=00:00:00.5",
        "--Dt:SyncInterval=00:00:01", "--Dt:AnnounceInterval=00:00:00.25", "--Dt:PurgeAfter=00:00:30", "--Dt:RttSamples=5",
        "--urls", "http://127.0.0.1:0",
        // Quieter children: the silo's own lines (and the engine's warnings) are what a failing test needs.
        "--Logging:LogLevel:Microsoft=Warning", "--Logging:LogLevel:Dt.Overlay=Warning",
    ];

    private SiloProcess(string name, string dataDir, string[] args, ChildProcess process)
    {
        Name = name;
        DataDir = dataDir;
        Args = args;
        Process = process;
    }

    public string Name { get; }

    public string DataDir { get; }

    public string[] Args { get; }

    public ChildProcess Process { get; private set; }

    public Uri Api { get; private set; } = null!;

    public string? ApiToken { get; init; }

    /// <summary>Starts a silo and waits until its API listens. <paramref name="args"/> come after the fast profile, so they win.</summary>
    public static async Task<SiloProcess> StartAsync(string name, string dataDir, params string[] args)
    {
        Directory.CreateDirectory(dataDir);
        var all = FastProfile.Concat([$"--Dt:DataDir={dataDir}"]).Concat(args).ToArray();
        var silo = new SiloProcess(name, dataDir, args, ChildProcess.Start(Binaries.Silo, all, workingDirectory: dataDir))
        {
            ApiToken = args.FirstOrDefault(a => a.StartsWith("--Silo:ApiToken=", StringComparison.Ordinal))?.Split('=', 2)[1],
        };
        try
        {
            await silo.WaitForApiAsync();
        }
        catch
        {
            await silo.DisposeAsync(); // a silo that did not come up must not outlive the test
            throw;
        }
        return silo;
    }

    /// <summary>Runs a silo that is expected to stop by itself (a refused configuration, a failed start) and waits
    /// for its exit. <paramref name="fastProfile"/>: put the fast test profile first (the args still win).</summary>
    public static async Task<ChildProcess> RunToExitAsync(string dataDir, bool fastProfile, params string[] args)
    {
        string[] all = [.. fastProfile ? FastProfile : [], $"--Dt:DataDir={dataDir}", .. args];
        var p = ChildProcess.Start(Binaries.Silo, all, workingDirectory: Directory.Exists(dataDir) ? dataDir : Path.GetTempPath());
        await p.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return p;
    }

    /// <summary>Starts this silo again, after it stopped, with the same arguments and data directory.</summary>
    public async Task RestartAsync()
    {
        if (!Process.HasExited) throw new InvalidOperationException($"{Name} is still running");
        await Process.DisposeAsync();
        var all = FastProfile.Concat([$"--Dt:DataDir={DataDir}"]).Concat(Args).ToArray();
        Process = ChildProcess.Start(Binaries.Silo, all, workingDirectory: DataDir);
        await WaitForApiAsync();
    }

    private async Task WaitForApiAsync()
    {
        string line = await Process.WaitForLineAsync(l => ReadyLine().IsMatch(l), $"{Name} to serve its API", TimeSpan.FromSeconds(30));
        Api = new Uri(ReadyLine().Match(line).Groups[1].Value);
        GatewayPort = int.Parse(GatewayLine().Match(line).Groups[1].Value);
    }

    /// <summary>The port Orleans clients connect to, as the silo reports it.</summary>
    public int GatewayPort { get; private set; }

    public DtClient Client() => new(new DtClientOptions { BaseAddress = Api, ApiToken = ApiToken, ReconnectMaxDelay = TimeSpan.FromMilliseconds(500) });

    /// <summary>The address other nodes dial: this node's peer listener, as it reports it.</summary>
    public async Task<string> PeerAddressAsync()
    {
        using var client = Client();
        var info = await client.GetNode().GetInfo();
        return info.ListenEndpoints.Single();
    }

    public async Task WaitHealthyAsync()
    {
        using var client = Client();
        await Eventually.Until(async () => (await client.GetHealthAsync()).Status == "ready", $"{Name} is ready (linked)", polling: Polling.Node);
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();

    [GeneratedRegex(@"HTTP API on (http://[^\s,]+)")]
    private static partial Regex ReadyLine();

    [GeneratedRegex(@"Orleans gateway on port (\d+)")]
    private static partial Regex GatewayLine();
}
