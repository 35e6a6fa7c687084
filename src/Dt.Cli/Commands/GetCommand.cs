using System.CommandLine;
using System.Text.Json;
using Dt.Client;

namespace Dt.Cli.Commands;

/// <summary>`dt get [--table T] HASH`: prints the object's value; fails if the table does not hold it.</summary>
public static class GetCommand
{
    public static Command Create(GlobalOptions g)
    {
        var table = GlobalOptions.TableOption();
        var hash = new Argument<string>("hash") { Description = "The object's hash" };
        var command = new Command("get", "Print one object's value") { table, hash };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string t = parse.GetValue(table)!, h = parse.GetValue(hash)!;
            var record = await client.GetTable(t).GetObject(h)
                         ?? throw new DtException(DtApiErrors.NotFound, $"table '{t}' holds no object {h}");
            await g.Console.Out.WriteLineAsync(JsonSerializer.Serialize(record.Value, DtJsonContext.Default.JsonElement));
            return 0;
        }));
        return command;
    }
}
