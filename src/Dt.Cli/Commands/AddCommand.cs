using System.CommandLine;

namespace Dt.Cli.Commands;

/// <summary>`dt add [--table T] JSON|@file|-`: adds one object (on a master) and prints its hash.</summary>
public static class AddCommand
{
    public static Command Create(GlobalOptions g)
    {
        var table = GlobalOptions.TableOption();
        var value = new Argument<string>("value") { Description = "The object: JSON text, @file for a file's content, or - for standard input", HelpName = "JSON|@file|-" };
        var command = new Command("add", "Add an object to a table (master nodes only); prints its hash") { table, value };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            using var doc = JsonInput.Read(parse.GetValue(value)!, g.Console);
            string hash = await client.GetTable(parse.GetValue(table)!).AddObject(doc.RootElement);
            await g.Console.Out.WriteLineAsync(hash);
            return 0;
        }));
        return command;
    }
}
