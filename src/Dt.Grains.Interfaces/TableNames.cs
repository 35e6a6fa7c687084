namespace Dt;

/// <summary>
/// The rule for table names, one for every caller (engine, grains, HTTP API, clients): 1 to 128 letters, digits,
/// '.', '_', '-', ':' or '/', where '/' separates non-empty parts none of which is "." or ".." (so no leading or
/// trailing '/', no "//"). Names are keys, never paths, but they travel in URLs and end up in logs and file names of
/// tools built on Dt: a name that reads like a path escape is refused rather than trusted to be harmless.
/// </summary>
public static class TableNames
{
    public const int MaxLength = 128;

    public const string Rule = "use 1 to 128 letters, digits, '.', '_', '-', ':' or '/', where '/' separates non-empty parts that are not '.' or '..'";

    public static bool IsValid(string? name)
    {
        if (name is not { Length: > 0 and <= MaxLength }) return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':' or '/')) return false;
        foreach (var part in name.Split('/'))
            if (part is "" or "." or "..") return false;
        return true;
    }

    public static void Require(string name)
    {
        if (!IsValid(name)) throw new DtException(DtErrorCodes.InvalidArgument, $"table name '{Shown(name)}' is invalid: {Rule}");
    }

    /// <summary>A name as error messages show it: cut at 40 characters, control characters escaped.</summary>
    public static string Shown(string name)
    {
        var cut = name.Length > 40 ? name[..40] + "…" : name;
        return string.Concat(cut.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
    }
}
