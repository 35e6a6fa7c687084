using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Dt.Tests.Silo;

/// <summary>
/// A `dotnet &lt;dll&gt;` child process whose stdout and stderr are drained into line lists as they come (a full pipe
/// would block the child), with waits on what it prints and on its exit. Disposing kills it.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _changed = new(0);

    private ChildProcess(Process process) => _process = process;

    public static ChildProcess Start(string dll, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null, string? stdin = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        // A child must not pick up the developer's settings for the silo or the CLI.
        foreach (var name in new[] { "DT_API", "DT_TOKEN", "ASPNETCORE_URLS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT" }) info.Environment.Remove(name);
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string?>()) info.Environment[k] = v;

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => child.OnLine(child._stdout, e.Data, child._stdoutClosed);
        process.ErrorDataReceived += (_, e) => child.OnLine(child._stderr, e.Data, child._stderrClosed);
        process.Exited += (_, _) => child._exited.TrySetResult();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (stdin is not null) process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        return child;
    }

    public int Id => _process.Id;

    public bool HasExited => _exited.Task.IsCompleted;

    public int ExitCode => _process.ExitCode;

    public IReadOnlyList<string> StdoutLines { get { lock (_stdout) return _stdout.ToList(); } }

    public string Stdout { get { lock (_stdout) return string.Join('\n', _stdout); } }

    public string Stderr { get { lock (_stderr) return string.Join('\n', _stderr); } }

    public string Describe() => $"stdout:\n{Stdout}\nstderr:\n{Stderr}";

    /// <summary>Waits until a stdout line satisfies <paramref name="match"/> and returns it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, string what, TimeSpan timeout)
    {
        using var cts = Eventually.CancelAfter(timeout);
        while (true)
        {
            var line = StdoutLines.FirstOrDefault(match);
            if (line is not null) return line;
            if (HasExited && _stdoutClosed.Task.IsCompleted)
                throw new InvalidOperationException($"the process exited ({ExitCode}) before {what}\n{Describe()}");
            try { await _changed.WaitAsync(TimeSpan.FromMilliseconds(200), cts.Token); }
            catch (OperationCanceledException) { throw new TimeoutException($"timed out waiting for {what}\n{Describe()}"); }
        }
    }

    /// <summary>Waits for the exit and for the output to be drained; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = Eventually.CancelAfter(timeout);
        try
        {
            await Task.WhenAll(_exited.Task, _stdoutClosed.Task, _stderrClosed.Task).WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the process did not exit within {timeout.TotalSeconds:0} s\n{Describe()}");
        }
        return _process.ExitCode;
    }

    /// <summary>A hard kill (SIGKILL): the process gets no chance to clean up, like a crash or power loss.</summary>
    public void Kill()
    {
        try { if (!HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    }

    /// <summary>SIGTERM, what a service manager sends to stop a service; falls back to a kill where signals do not exist.</summary>
    public void Terminate()
    {
        if (HasExited) return;
        if (OperatingSystem.IsWindows()) Kill();
        else if (SysKill(_process.Id, 15) != 0) Kill();
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try { await _exited.Task.WaitAsync(TimeSpan.FromSeconds(5)); } catch (TimeoutException) { }
        _process.Dispose();
    }

    private void OnLine(List<string> lines, string? line, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
        }
        else
        {
            lock (lines) lines.Add(line);
        }
        _changed.Release();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);
}
