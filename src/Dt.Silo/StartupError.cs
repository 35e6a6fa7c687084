namespace Dt.Silo;

/// <summary>
/// The silo's start-up failures: one message on stderr (no stack trace) and an exit code. 2: invalid
/// configuration; 1: the configuration is fine but the node or the API could not start (a port in use, say).
/// </summary>
internal static class StartupError
{
    public const int ConfigurationExitCode = 2;
    public const int StartExitCode = 1;

    public static int Configuration(IReadOnlyList<string> errors)
    {
        Console.Error.WriteLine(errors.Count == 1
            ? $"dt-silo: invalid configuration: {errors[0]}"
            : "dt-silo: invalid configuration (fix these settings and start again):" + Environment.NewLine
              + string.Join(Environment.NewLine, errors.Select(e => "  - " + e)));
        return ConfigurationExitCode;
    }

    public static int Start(string message)
    {
        // One line: framework messages sometimes carry their own line breaks.
        Console.Error.WriteLine($"dt-silo: cannot start: {string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))}");
        return StartExitCode;
    }
}
