namespace Dt.Files;

/// <summary>The mirror's own directory inside a mirror: <c>.dt-files/state.json</c> (what it wrote) and
/// <c>.dt-files/tmp/</c> (files being written; only ever renamed into place once complete and checked).</summary>
public static class MirrorLayout
{
    public const string StateDirectoryName = ".dt-files";

    public static string StateDirectory(string root) => Path.Combine(root, StateDirectoryName);

    public static string StateFile(string root) => Path.Combine(root, StateDirectoryName, "state.json");

    public static string TempDirectory(string root) => Path.Combine(root, StateDirectoryName, "tmp");
}
