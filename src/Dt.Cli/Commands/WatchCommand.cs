using System.CommandLine;
using System.Text.Json;
using Dt.Client;

namespace Dt.Cli.Commands;

/// <summary>
/// `dt watch [--table T] [--after ID] [--existing] [--count N]`: prints the node's events as JSON lines until
/// Ctrl-C (or N events). A dropped connection is resumed from the last event id seen, so nothing held is missed.
/// </summary>
public static class WatchCommand
{
    public static Command Create(GlobalOptions g)
    {
        var table = new Option<string?>("--table", "-t") { Description = "Only this table's events (default: every event of the node)", HelpName = "TABLE" };
        var after = new Option<long?>("--after") { Description = "Replay the events after this id that the node still holds (0: all it holds), then follow", HelpName = "ID" };
        var existing = new Option<bool>("--existing") { Description = "First an object_added (id 0) for every object already held" };
        var count = new Option<int?>("--count", "-n") { Description = "Exit after this many events", HelpName = "N" };
        var command = new Command("watch", "Print the node's events (started, object_added, object_removed, message_received, error) as JSON lines")
        {
            table, after, existing, count,
        };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string? t = parse.GetValue(table);
            int? limit = parse.GetValue(count);
            if (limit is <= 0) throw new CliException("--count must be at least 1");
            var subscription = new EventSubscription(t, parse.GetValue(after), parse.GetValue(existing));
            int seen = 0;
            try
            {
                await foreach (var e in client.GetNode().SubscribeEvents(subscription, ct))
                {
                    await g.Console.Out.WriteLineAsync(JsonSerializer.Serialize(e, DtJsonContext.Default.DtEvent));
                    await g.Console.Out.FlushAsync(ct);
                    if (++seen == limit) break;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Ctrl-C is how a watch normally ends.
            }
            return 0;
        }));
        return command;
    }
}
