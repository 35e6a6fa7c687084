namespace Dt.Cli;

/// <summary>Where a command reads and writes; the process's console, or writers of a test.</summary>
public sealed record CliConsole(TextReader In, TextWriter Out, TextWriter Error, bool ErrorIsTerminal, Func<string, string?> Environment)
{
    public static CliConsole System => new(Console.In, Console.Out, Console.Error, !Console.IsErrorRedirected, global::System.Environment.GetEnvironmentVariable);

    public Stream OpenStandardInput() => ReferenceEquals(In, Console.In) ? Console.OpenStandardInput() : new MemoryStream(global::System.Text.Encoding.UTF8.GetBytes(In.ReadToEnd()));
}
