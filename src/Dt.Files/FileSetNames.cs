namespace Dt.Files;

/// <summary>
/// A file set's name and its two Dt tables: <c>files.NAME</c> holds one manifest per file (small objects a mirror
/// follows), <c>files.NAME.chunks</c> the chunks (large objects fetched by hash, never streamed as events).
/// </summary>
public static class FileSetNames
{
    public const int MaxLength = 64;

    public const string Rule = "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit";

    public static bool IsValid(string? name) =>
        name is { Length: > 0 and <= MaxLength } && char.IsAsciiLetterOrDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>Throws a <see cref="DtException"/> (invalid_argument) naming the rule.</summary>
    public static void Require(string name)
    {
        if (!IsValid(name)) throw new DtException(DtErrorCodes.InvalidArgument, $"file set name '{TableNames.Shown(name ?? "")}' is invalid: {Rule}");
    }

    public static string ManifestTable(string set) => $"files.{set}";

    public static string ChunkTable(string set) => $"files.{set}.chunks";
}
