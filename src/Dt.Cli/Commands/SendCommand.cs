using System.CommandLine;

namespace Dt.Cli.Commands;

/// <summary>`dt send JSON|@file|-`: broadcasts a message to every online node; prints its id.</summary>
public static class SendCommand
{
    public static Command Create(GlobalOptions g)
    {
        var value = new Argument<string>("message") { Description = "The message: JSON text, @file, or - for standard input", HelpName = "JSON|@file|-" };
        var command = new Command("send", "Broadcast a message (any JSON) to every online node; prints its id") { value };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            using var doc = JsonInput.Read(parse.GetValue(value)!, g.Console);
            string id = await client.GetMessageStream().Send(doc.RootElement);
            await g.Console.Out.WriteLineAsync(id);
            return 0;
        }));
        return command;
    }
}
