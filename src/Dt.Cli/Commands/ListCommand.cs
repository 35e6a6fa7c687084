using System.CommandLine;
using System.Text.Json;
using Dt.Client;

namespace Dt.Cli.Commands;

/// <summary>`dt list [--table T] [--values]`: every object, one JSON line each.</summary>
public static class ListCommand
{
    public static Command Create(GlobalOptions g)
    {
        var table = GlobalOptions.TableOption();
        var values = new Option<bool>("--values") { Description = "Print only the values, one per line (input for `dt import`)" };
        var command = new Command("list", "List a table's objects as JSON lines {\"hash\":...,\"value\":...}") { table, values };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            bool onlyValues = parse.GetValue(values);
            var o = g.Console.Out;
            await foreach (var record in client.GetTable(parse.GetValue(table)!).ListObjects(ct))
                await o.WriteLineAsync(onlyValues
                    ? JsonSerializer.Serialize(record.Value, DtJsonContext.Default.JsonElement)
                    : JsonSerializer.Serialize(record, DtJsonContext.Default.ObjectRecord));
            return 0;
        }));
        return command;
    }
}
