namespace Dt.Tests.Silo;

/// <summary>
/// The join command a new network's first silo prints, taken apart: the settings a second node needs (network key,
/// trusted master key, peer address). Ports, data directory and URLs are left out: tests pick their own.
/// </summary>
internal static class JoinCommand
{
    public static string[] From(ChildProcess master)
    {
        const string prefix = "dotnet Dt.Silo.dll ";
        string line = master.StdoutLines.Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))
                      ?? throw new InvalidOperationException("the master printed no join command\n" + master.Describe());
        var args = line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        int urls = args.IndexOf("--urls");
        if (urls >= 0) args.RemoveRange(urls, 2);
        return args.Where(a => !a.StartsWith("--Dt:DataDir=", StringComparison.Ordinal) && !a.StartsWith("--Dt:Port=", StringComparison.Ordinal)).ToArray();
    }
}
