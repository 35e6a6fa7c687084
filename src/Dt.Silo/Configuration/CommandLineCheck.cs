namespace Dt.Silo.Configuration;

/// <summary>
/// The command line before the configuration reads it: .NET's command-line provider silently drops what it does not
/// understand (a bare word, a last switch without a value) and takes any key, so a typo such as <c>--Dt.Port=1</c>
/// would start the node on its defaults. Every argument must be <c>--Section:Name=value</c> (or <c>--Section:Name
/// value</c>, or <c>/Section:Name=value</c>) with a section the silo knows.
/// </summary>
internal static class CommandLineCheck
{
    /// <summary>The top-level keys the silo reads: its own sections, then the host's and Kestrel's.</summary>
    private static readonly HashSet<string> Known = new(StringComparer.OrdinalIgnoreCase)
    {
        "Dt", "Silo", "Dns", "Cdn", "Cluster", "Logging", "urls", "Kestrel", "environment", "http_ports", "https_ports",
    };

    public static List<string> Check(IReadOnlyList<string> args)
    {
        var errors = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string? key;
            if (arg.StartsWith("--", StringComparison.Ordinal) || arg.StartsWith('/'))
            {
                string body = arg.StartsWith('/') ? arg[1..] : arg[2..];
                int eq = body.IndexOf('=');
                key = eq < 0 ? body : body[..eq];
                if (eq < 0)
                {
                    // "--key value": the next argument is the value.
                    if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    {
                        errors.Add($"{arg} needs a value (e.g. {arg.TrimStart('-', '/')}=...)");
                        continue;
                    }
                    i++;
                }
            }
            else if (arg.StartsWith('-'))
            {
                errors.Add($"'{arg}' is not a setting: write settings with two dashes, --Section:Name=value (e.g. --Dt:Port=9701)");
                continue;
            }
            else if (arg.Contains('='))
            {
                key = arg[..arg.IndexOf('=')];
            }
            else
            {
                errors.Add($"'{arg}' is not a setting: Dt.Silo takes only --Section:Name=value arguments (see --help)");
                continue;
            }

            string top = key.Split([":", "__"], 2, StringSplitOptions.None)[0];
            if (top.Length == 0 || !Known.Contains(top))
                errors.Add(top.Contains('.') && Known.Contains(top[..top.IndexOf('.')])
                    ? $"'{key}' is not a setting: sections and names are separated by ':' (e.g. --{top.Replace('.', ':')}=...)"
                    : top.Equals("Orleans", StringComparison.OrdinalIgnoreCase)
                        ? $"'{key}' is not a setting: the silo's Orleans settings are the Cluster section (e.g. --Cluster:GatewayPort=11700)"
                        : $"'{key}' is not a setting (sections: Dt, Silo, Dns, Cdn, Cluster, Logging; and urls)");
        }
        return errors;
    }
}
