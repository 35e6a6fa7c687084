using System.Text.Json;

namespace Dt.Cli;

/// <summary>
/// A JSON value given on the command line: the JSON text itself, "@path" for a file's content, or "-" for standard
/// input. Checked here, so a typo is reported before anything is sent.
/// </summary>
public static class JsonInput
{
    public static JsonDocument Read(string argument, CliConsole console)
    {
        string text, source;
        if (argument == "-")
        {
            text = console.In.ReadToEnd();
            source = "standard input";
        }
        else if (argument.StartsWith('@'))
        {
            string path = argument[1..];
            if (!File.Exists(path)) throw new CliException($"file not found: {path}");
            text = File.ReadAllText(path);
            source = path;
        }
        else
        {
            text = argument;
            source = "the argument";
        }
        if (string.IsNullOrWhiteSpace(text)) throw new CliException($"{source} holds no JSON value");
        try
        {
            return JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            string hint = argument is not "-" && !argument.StartsWith('@') ? " (quote the JSON for the shell, e.g. '{\"a\":1}')" : "";
            throw new CliException($"{source} is not valid JSON: {e.Message}{hint}");
        }
    }
}
