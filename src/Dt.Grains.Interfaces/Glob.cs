namespace Dt;

/// <summary>
/// Wildcard patterns of keys and event names: <c>*</c> matches any run of characters (also none, also dots),
/// <c>?</c> matches one character, everything else matches itself; the whole name must match.
/// So <c>dns.*</c> matches <c>dns.a</c> and <c>dns.example.com</c> but not <c>dns</c>; <c>*</c> matches everything.
/// </summary>
public static class Glob
{
    public const int MaxPatternLength = 512;

    public static bool IsValid(string? pattern) => pattern is { Length: > 0 and <= MaxPatternLength } && !pattern.Any(char.IsControl);

    public static bool IsMatch(string pattern, string text)
    {
        // Iterative matcher with one backtrack point: linear in practice, never exponential.
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]) && pattern[p] != '*')
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}

/// <summary>The one rule of what a hear request hears: a said event whose name matches the pattern, and this node's own events only if asked.</summary>
public static class HearFilter
{
    public static bool Hears(this HearRequest request, SaidEvent said, string ownName) =>
        Glob.IsMatch(request.Pattern, said.Event) && (request.IncludeOwn || said.Origin != ownName);
}
