using System.Text.RegularExpressions;

namespace Dt.Client;

/// <summary>
/// The engine's rule for table names, repeated here so a remote <see cref="DtClient.GetTable"/> refuses a bad name
/// as early (and with the same code) as the in-process factory does; the silo checks again.
/// </summary>
public static partial class TableNames
{
    public const int MaxLength = 128;

    public static bool IsValid(string? name) => name is { Length: > 0 and <= MaxLength } && Pattern().IsMatch(name);

    public static void Require(string name)
    {
        if (!IsValid(name))
            throw new DtException(DtErrorCodes.InvalidArgument,
                $"table name '{(name.Length > 40 ? name[..40] + "…" : name)}' is invalid: use 1 to 128 letters, digits, '.', '_', '-', ':' or '/'");
    }

    [GeneratedRegex("^[A-Za-z0-9._:/-]+$")]
    private static partial Regex Pattern();
}
