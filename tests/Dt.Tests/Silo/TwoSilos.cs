using Xunit;

namespace Dt.Tests.Silo;

/// <summary>
/// A master (with an API token and a small body cap) and a non-master linked to it, as real silo processes, shared
/// by the tests of <see cref="SiloProcessTests"/>.
/// </summary>
public sealed class TwoSilos : IAsyncLifetime
{
    public const string Token = "test-token-0123456789abcdef";
    public const int MaxBodyBytes = 64 * 1024;

    private readonly TempDirs _dirs = new();

    internal SiloProcess Master { get; private set; } = null!;

    internal SiloProcess Node { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Master = await SiloProcess.StartAsync("master", _dirs.New("master"), $"--Silo:ApiToken={Token}", $"--Silo:MaxBodyBytes={MaxBodyBytes}");
        Node = await SiloProcess.StartAsync("node", _dirs.New("node"), JoinCommand.From(Master.Process));
        await Node.WaitHealthyAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Node is not null) await Node.DisposeAsync();
        if (Master is not null) await Master.DisposeAsync();
        _dirs.Dispose();
    }
}
