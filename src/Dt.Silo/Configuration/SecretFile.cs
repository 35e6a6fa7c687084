namespace Dt.Silo.Configuration;

/// <summary>
/// A secret kept in the data directory as one line of text, readable by its owner only (mode 600): the network key
/// ("network.key") and a master's signing key ("master.key"). Written through a temporary file and a rename, so a
/// crash never leaves half a key behind; never overwritten, since it may be the only copy.
/// </summary>
internal sealed class SecretFile(string dataDir, string fileName, string setting, Func<string, bool> isValid, string describe)
{
    public string Path { get; } = System.IO.Path.GetFullPath(System.IO.Path.Combine(dataDir, fileName));

    /// <summary>The stored secret, or null if there is none. Throws <see cref="InvalidDataException"/> when the file
    /// holds no valid secret.</summary>
    public string? TryRead(List<string> warnings)
    {
        if (!File.Exists(Path)) return null;
        string value = File.ReadAllText(Path).Trim();
        if (!isValid(value))
            throw new InvalidDataException($"{Path} does not hold {describe}; fix or delete it, or set {setting}.");
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(Path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
            warnings.Add($"{Path} is readable by other users; run `chmod 600 {Path}`: it holds a secret ({setting}).");
        return value;
    }

    public void Write(string value)
    {
        string dir = System.IO.Path.GetDirectoryName(Path)!;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(dir);
        else Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string tmp = Path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var f = new FileStream(tmp, options))
        using (var w = new StreamWriter(f))
            w.WriteLine(value);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, Path, overwrite: false);
    }
}
