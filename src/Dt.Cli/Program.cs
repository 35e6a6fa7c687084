namespace Dt.Cli;

public static class Program
{
    public static Task<int> Main(string[] args) => DtCommandLine.RunAsync(args, CliConsole.System);
}
