using System.Diagnostics;
using System.Text;
using Xunit;

namespace Dt.Tests.Bench;

/// <summary>
/// Runs the scenario benchmark's <c>--quick</c> mode as its own process (<c>dotnet run -c Release --project
/// bench/Dt.Bench -- --quick</c>) and checks only that every scenario completed and converged. Speed is never
/// asserted: the figures depend on the machine and on whatever else runs on it.
/// </summary>
public class BenchSmokeTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Bench")]
    public async Task QuickScenarioRunCompletesAndConverges()
    {
        var root = RepoRoot();
        var psi = new ProcessStartInfo
        {
            FileName = DotnetHost(),
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "run", "-c", "Release", "--project", Path.Combine(root, "bench", "Dt.Bench"), "--", "--quick" })
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();

        // Building the bench in Release can take a while on a busy machine; the run itself takes well under a minute.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(8));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            output.WriteLine(stdout.ToString());
            output.WriteLine(stderr.ToString());
            Assert.Fail("the quick benchmark run did not finish within 8 minutes");
        }
        p.WaitForExit(); // flush the asynchronous readers

        string text;
        lock (stdout) text = stdout.ToString();
        output.WriteLine(text);
        if (p.ExitCode != 0)
        {
            lock (stderr) output.WriteLine(stderr.ToString());
        }
        Assert.True(p.ExitCode == 0, $"Dt.Bench --quick exited with {p.ExitCode}; see the test output");
        var result = text.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("RESULT:", StringComparison.Ordinal));
        Assert.NotNull(result);
        Assert.Contains("completed and converged", result);
        Assert.DoesNotContain("FAILED", text);
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DtOrleans.sln"))) return dir.FullName;
        throw new InvalidOperationException($"DtOrleans.sln not found above {AppContext.BaseDirectory}");
    }

    /// <summary>The dotnet host running these tests if it is one, else the one the SDK named, else "dotnet" on the PATH.</summary>
    private static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
    }
}
