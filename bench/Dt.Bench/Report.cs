using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;

namespace Dt.Bench;

/// <summary>One line of the results table.</summary>
public sealed record Row(string Scenario, string Mode, string Size, string Result, string Target, string Status);

/// <summary>A measurement: named values (seconds, bytes, ratios) from one run of a job.</summary>
public sealed class Values : Dictionary<string, double>
{
    public double Get(string key) => TryGetValue(key, out var v) ? v : double.NaN;

    /// <summary>"median (min–max)" when the job ran several times, else the value, formatted by <paramref name="fmt"/>.</summary>
    public string Spread(string key, Func<double, string> fmt) =>
        TryGetValue(key + ".min", out var lo) && TryGetValue(key + ".max", out var hi) && lo != hi
            ? $"{fmt(Get(key))} ({fmt(lo)}–{fmt(hi)})"
            : fmt(Get(key));

    /// <summary>Per key, the median over runs, with key.min and key.max when there are several runs.</summary>
    public static Values Combine(IReadOnlyList<Values> runs)
    {
        var v = new Values();
        if (runs.Count == 1) { foreach (var (k, x) in runs[0]) v[k] = x; return v; }
        foreach (var key in runs.SelectMany(r => r.Keys).Distinct())
        {
            var xs = runs.Where(r => r.ContainsKey(key)).Select(r => r[key]).Order().ToArray();
            v[key] = xs.Length % 2 == 1 ? xs[xs.Length / 2] : (xs[xs.Length / 2 - 1] + xs[xs.Length / 2]) / 2;
            v[key + ".min"] = xs[0];
            v[key + ".max"] = xs[^1];
        }
        return v;
    }
}

public static class Fmt
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string Seconds(double s) => double.IsNaN(s) ? "?" : s >= 10 ? s.ToString("0.0", C) + " s" : s >= 1 ? s.ToString("0.00", C) + " s"
        : s >= 0.01 ? (s * 1000).ToString("0", C) + " ms" : (s * 1000).ToString("0.00", C) + " ms";

    public static string Ms(double ms) => Seconds(ms / 1000);

    public static string Rate(double perSecond) => double.IsNaN(perSecond) ? "?" : perSecond >= 1e6 ? (perSecond / 1e6).ToString("0.00", C) + " M/s"
        : perSecond >= 1e3 ? (perSecond / 1e3).ToString("0.0", C) + " k/s" : perSecond.ToString("0", C) + " /s";

    public static string Ratio(double x) => double.IsNaN(x) ? "?" : x.ToString(x >= 10 ? "0.0" : "0.00", C) + "×";

    public static string Percent(double x) => double.IsNaN(x) ? "?" : (x * 100).ToString(x >= 0.1 ? "0.0" : "0.00", C) + " %";

    public static string Bytes(double b) => double.IsNaN(b) ? "?" : b >= 1e9 ? (b / 1e9).ToString("0.00", C) + " GB" : b >= 1e6 ? (b / 1e6).ToString("0.0", C) + " MB"
        : b >= 1e3 ? (b / 1e3).ToString("0.0", C) + " KB" : b.ToString("0", C) + " B";

    public static string Count(long n) => n >= 1_000_000 && n % 1_000_000 == 0 ? $"{n / 1_000_000}M" : n >= 1000 && n % 1000 == 0 ? $"{n / 1000}k" : n.ToString(C);

    public static string Status(bool? meets) => meets switch { true => "meets", false => "MISSES", null => "" };
}

public static class Machine
{
    public static string Describe()
    {
        string cpu = "unknown CPU";
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) cpu = line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return $"{Environment.ProcessorCount} cores ({cpu}), {RuntimeInformation.OSDescription.Trim()} {RuntimeInformation.OSArchitecture}, " +
               $"{RuntimeInformation.FrameworkDescription}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC" +
               $"{(GCSettings.LatencyMode == GCLatencyMode.Interactive ? " (concurrent)" : "")}, {TotalMemory()}";
    }

    private static string TotalMemory()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out long kb)) return $"{kb / 1024 / 1024.0:0} GiB RAM";
        }
        catch (IOException) { }
        return "RAM unknown";
    }

    /// <summary>The 1-minute load average (other work on the machine shows up here), or "?".</summary>
    public static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    /// <summary>Resident set size and its peak of this process, from /proc/self/status (bytes); falls back to the working set.</summary>
    /// <summary>
    /// Minor page faults this process has taken (Linux; 0 elsewhere). Where a fault is dear (12 µs each on a virtual
    /// machine measured here), fresh memory is a large share of a bulk's CPU.
    /// </summary>
    public static long PageFaults()
    {
        try
        {
            // Fields after the command (which may hold spaces, so read after its closing parenthesis): minflt is the 8th.
            string stat = File.ReadAllText("/proc/self/stat");
            return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[7], CultureInfo.InvariantCulture);
        }
        catch (IOException) { return 0; }
    }

    public static (long Rss, long Peak) Rss()
    {
        long rss = Environment.WorkingSet, peak = 0;
        try
        {
            foreach (var l in File.ReadLines("/proc/self/status"))
            {
                if (l.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(l);
                else if (l.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kb(l);
            }
        }
        catch (IOException) { }
        return (rss, peak);

        static long Kb(string l) => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}

public static class Table
{
    public static string Render(IReadOnlyList<Row> rows)
    {
        string[] head = ["scenario", "mode", "size", "result", "target", "status"];
        var cells = rows.Select(r => new[] { r.Scenario, r.Mode, r.Size, r.Result, r.Target, r.Status }).ToList();
        var width = head.Select((h, i) => Math.Max(h.Length, cells.Count == 0 ? 0 : cells.Max(c => c[i].Length))).ToArray();
        var sb = new StringBuilder();
        Line(head);
        sb.Append('|');
        foreach (var w in width) sb.Append(' ').Append(new string('-', w)).Append(" |");
        sb.AppendLine();
        foreach (var c in cells) Line(c);
        return sb.ToString();

        void Line(string[] c)
        {
            sb.Append('|');
            for (int i = 0; i < c.Length; i++) sb.Append(' ').Append(c[i].PadRight(width[i])).Append(" |");
            sb.AppendLine();
        }
    }
}
