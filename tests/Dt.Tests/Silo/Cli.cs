namespace Dt.Tests.Silo;

/// <summary>Runs the `dt` command line (its built dll) against a silo.</summary>
internal static class Cli
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static Task<Result> RunAsync(Uri api, string? token, params string[] args) => RunWithInputAsync(api, token, stdin: null, args);

    public static async Task<Result> RunWithInputAsync(Uri api, string? token, string? stdin, params string[] args)
    {
        var all = new List<string>(args) { "--api", api.ToString() };
        if (token is not null) all.AddRange(["--token", token]);
        await using var p = ChildProcess.Start(Binaries.Cli, all, stdin: stdin);
        int code = await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return new Result(code, p.Stdout, p.Stderr);
    }

    /// <summary>Runs `dt` and expects exit code 0; returns its stdout.</summary>
    public static async Task<string> OkAsync(Uri api, string? token, params string[] args)
    {
        var r = await RunAsync(api, token, args);
        if (r.ExitCode != 0) throw new Xunit.Sdk.XunitException($"dt {string.Join(' ', args)} failed: {r}");
        return r.Stdout.Trim();
    }
}
