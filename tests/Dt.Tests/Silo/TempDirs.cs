namespace Dt.Tests.Silo;

/// <summary>Temporary directories for silo data, removed with the test.</summary>
internal sealed class TempDirs : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "dt-silo-tests", Guid.NewGuid().ToString("N")[..12]);

    public string New(string name)
    {
        string dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
