using System.CommandLine;
using System.Runtime.InteropServices;
using Dt.Cli.Commands;
using Dt.Client;

namespace Dt.Cli;

/// <summary>
/// The `dt` command tree. Every command talks to one silo (--api, else DT_API, else http://127.0.0.1:9780) with an
/// optional token (--token, else DT_TOKEN), and, with --expect-network (or DT_NETWORK), only if its node is in that
/// network. Exit codes: 0 success, 1 failure with one line on stderr ("dt: ..."),
/// and System.CommandLine's own for usage errors.
/// </summary>
public static class DtCommandLine
{
    public static async Task<int> RunAsync(string[] args, CliConsole console)
    {
        var globals = new GlobalOptions(console);
        var root = new RootCommand("dt: drive a Dt node (a running Dt.Silo) from the shell.")
        {
            globals.Api,
            globals.Token,
            globals.ExpectNetwork,
            StatusCommand.Create(globals),
            AddCommand.Create(globals),
            RemoveCommand.Create(globals),
            ListCommand.Create(globals),
            GetCommand.Create(globals),
            SendCommand.Create(globals),
            WatchCommand.Create(globals),
            ImportCommand.Create(globals),
            DnsCommand.Create(globals),
            FilesCommand.Create(globals),
            GossipCommands.State(globals),
            GossipCommands.Map(globals),
            GossipCommands.Say(globals),
            GossipCommands.Hear(globals),
        };
        // "@file" is dt's way to name a JSON file, not a response file of extra arguments.
        var parsing = new ParserConfiguration { ResponseFileTokenReplacer = null };
        // Ctrl-C and SIGTERM cancel the command's token (watch then ends normally); handled here because
        // System.CommandLine's own handling left the process to die by the signal.
        var config = new InvocationConfiguration { Output = console.Out, Error = console.Error, ProcessTerminationTimeout = null };
        using var stop = new CancellationTokenSource();
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        return await root.Parse(args, parsing).InvokeAsync(config, stop.Token);

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }
}

/// <summary>The options every command takes, and the client they make.</summary>
public sealed class GlobalOptions(CliConsole console)
{
    public CliConsole Console { get; } = console;

    public Option<string> Api { get; } = new("--api")
    {
        Description = "Base URL of the silo's HTTP API [env: DT_API; default: http://127.0.0.1:9780]",
        Recursive = true,
        HelpName = "URL",
        DefaultValueFactory = _ => console.Environment("DT_API") is { Length: > 0 } v ? v : DtClientOptions.DefaultBaseAddress.ToString().TrimEnd('/'),
    };

    public Option<string?> Token { get; } = new("--token")
    {
        Description = "The silo's API token (Silo:ApiToken) [env: DT_TOKEN]",
        Recursive = true,
        HelpName = "TOKEN",
        DefaultValueFactory = _ => console.Environment("DT_TOKEN") is { Length: > 0 } v ? v : null,
    };

    public Option<string?> ExpectNetwork { get; } = new("--expect-network")
    {
        Description = "Refuse to act unless the silo's node is in this Dt network (Dt:Network) [env: DT_NETWORK]",
        Recursive = true,
        HelpName = "NAME",
        DefaultValueFactory = _ => console.Environment("DT_NETWORK") is { Length: > 0 } v ? v : null,
    };

    public DtClient Client(ParseResult parse) =>
        new(new DtClientOptions { BaseAddress = DtClient.ParseBaseAddress(parse.GetValue(Api)!), ApiToken = parse.GetValue(Token) });

    /// <summary>The --table option of table commands.</summary>
    public static Option<string> TableOption() => new("--table", "-t")
    {
        Description = "Table name",
        HelpName = "TABLE",
        DefaultValueFactory = _ => "default",
    };

    /// <summary>Runs a command body, turning every failure into "dt: message" on stderr and exit code 1.</summary>
    public Func<ParseResult, CancellationToken, Task<int>> Run(Func<ParseResult, DtClient, CancellationToken, Task<int>> body) =>
        async (parse, ct) =>
        {
            try
            {
                using var client = Client(parse);
                if (parse.GetValue(ExpectNetwork) is { } expected)
                {
                    var info = await client.GetNode().GetInfo();
                    if (info.Network != expected)
                        throw new CliException($"the node at {client.BaseAddress} ({info.Name ?? info.NodeId}) is in network '{info.Network}', not '{expected}' (--expect-network, DT_NETWORK); nothing was done");
                }
                return await body(parse, client, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return 130; // Ctrl-C (watch treats it as its normal end and returns 0 itself)
            }
            catch (Exception e) when (e is DtException or IOException or UnauthorizedAccessException or CliException or Dt.Files.FileSyncException)
            {
                await Console.Error.WriteLineAsync("dt: " + OneLine(e.Message));
                return 1;
            }
            catch (Exception e)
            {
                // A bug of dt itself: still one line, with the type to report it by.
                await Console.Error.WriteLineAsync($"dt: unexpected {e.GetType().Name}: {OneLine(e.Message)}");
                return 1;
            }
        };

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}

/// <summary>A usage problem found by a command itself (bad JSON input, a missing file).</summary>
public sealed class CliException(string message) : Exception(message);
