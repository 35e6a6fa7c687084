using System.CommandLine;
using Dt.Client;

namespace Dt.Cli.Commands;

/// <summary>`dt remove [--table T] HASH`: removes an object (on a master); fails if the table does not hold it.</summary>
public static class RemoveCommand
{
    public static Command Create(GlobalOptions g)
    {
        var table = GlobalOptions.TableOption();
        var hash = new Argument<string>("hash") { Description = "The object's hash (64 hex characters, as printed by add and list)" };
        var command = new Command("remove", "Remove an object from a table (master nodes only)") { table, hash };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string t = parse.GetValue(table)!, h = parse.GetValue(hash)!;
            if (!await client.GetTable(t).RemoveObject(h))
                throw new DtException(DtApiErrors.NotFound, $"table '{t}' holds no object {h}");
            await g.Console.Out.WriteLineAsync($"removed {h}");
            return 0;
        }));
        return command;
    }
}
