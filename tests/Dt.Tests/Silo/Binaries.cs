namespace Dt.Tests.Silo;

/// <summary>
/// Where the built Dt.Silo.dll and dt.dll are, to run with `dotnet &lt;dll&gt;`: in their own project's bin folder of
/// the tests' configuration (built with the tests, which reference both projects), else next to the test assembly.
/// Their own folder comes first: next to the tests, dt.dll would miss the packages the test project takes from the
/// ASP.NET Core framework instead (Microsoft.Extensions.Logging.Abstractions).
/// </summary>
internal static class Binaries
{
    public static string Silo { get; } = Find("Dt.Silo", "Dt.Silo");

    public static string Cli { get; } = Find("dt", "Dt.Cli");

    private static string Find(string assembly, string project)
    {
        string here = AppContext.BaseDirectory;
        var dir = new DirectoryInfo(here);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DtOrleans.sln"))) dir = dir.Parent;
        if (dir is not null)
        {
            string configuration = here.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            string built = Path.Combine(dir.FullName, "src", project, "bin", configuration, "net10.0", assembly + ".dll");
            if (File.Exists(built)) return built;
        }
        string local = Path.Combine(here, assembly + ".dll");
        if (File.Exists(local) && File.Exists(Path.Combine(here, assembly + ".runtimeconfig.json"))) return local;
        throw new FileNotFoundException($"cannot find {assembly}.dll; build it with `dotnet build DtOrleans.sln`");
    }
}
