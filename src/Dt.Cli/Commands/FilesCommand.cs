using System.CommandLine;
using System.Diagnostics;
using Dt.Files;

namespace Dt.Cli.Commands;

/// <summary>
/// `dt files publish DIR --set NAME` (on a master), `dt files mirror NAME DIR` (follows until Ctrl-C, or `--once`),
/// `dt files restore NAME DIR` (one pass, then the mirror's own state is removed): file sync and backup through the
/// set's two tables (Dt.Files). Progress goes to stderr; one summary line per publish or pass to stdout.
/// </summary>
public static class FilesCommand
{
    public static Command Create(GlobalOptions g) => new("files", "File sync and backup: publish a directory, mirror it on any node, restore it (docs/FILES.md)")
    {
        Publish(g), Mirror(g), Restore(g),
    };

    private static Argument<string> SetArgument() => new("name") { Description = "The file set's name (" + FileSetNames.Rule + ")" };

    private static Argument<string> DirArgument(string what) => new("dir") { Description = what, HelpName = "DIR" };

    private static Command Publish(GlobalOptions g)
    {
        var dir = DirArgument("The directory to publish (symbolic links are skipped, never followed)");
        var set = new Option<string>("--set", "-s") { Description = "The file set's name", Required = true, HelpName = "NAME" };
        var average = new Option<int>("--average-chunk") { Description = "Target chunk size in KiB, a power of two", DefaultValueFactory = _ => 256, HelpName = "KIB" };
        var max = new Option<int>("--max-chunk") { Description = "Largest chunk in KiB (its base64 must fit under the nodes' Dt:MaxObjectBytes)", DefaultValueFactory = _ => 512, HelpName = "KIB" };
        var noCompress = new Option<bool>("--no-compress") { Description = "Never deflate chunks" };
        var checksum = new Option<bool>("--checksum") { Description = "Hash every file, also those whose size, time and mode match the set" };
        var command = new Command("publish", "Publish a directory as a file set (master nodes only): new, changed, renamed and deleted files") { dir, set, average, max, noCompress, checksum };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string name = parse.GetValue(set)!, path = parse.GetValue(dir)!;
            RequireSet(name);
            if (!Directory.Exists(path)) throw new CliException($"directory not found: {path}");
            if (parse.GetValue(average) is < 4 or > 4096 || parse.GetValue(max) is < 8 or > 8192) throw new CliException("--average-chunk must be 4 to 4096 KiB and --max-chunk 8 to 8192 KiB");
            var options = new PublishOptions
            {
                AverageChunkBytes = parse.GetValue(average) * 1024,
                MaxChunkBytes = parse.GetValue(max) * 1024,
                Compress = !parse.GetValue(noCompress),
                Checksum = parse.GetValue(checksum),
            };
            if (options.Validate() is { Count: > 0 } errors) throw new CliException(string.Join("; ", errors));
            var bar = new ProgressLine(g.Console);
            var r = await new FilePublisher(client, name, options).PublishAsync(path,
                new Inline<PublishProgress>(p => bar.Show($"{Bar(p.BytesRead, p.BytesTotal)} {p.FilesDone:N0}/{p.FilesTotal:N0} files, {Mb(p.BytesRead)} read, {Mb(p.BytesSent)} sent")), ct);
            bar.Done();
            double s = Math.Max(r.Elapsed.TotalSeconds, 0.001);
            await g.Console.Out.WriteLineAsync(
                $"published '{name}': {r.Files} files ({r.Added} added, {r.Changed} changed, {r.Removed} removed, {r.Unchanged} unchanged{(r.Skipped > 0 ? $", {r.Skipped} skipped" : "")}), " +
                $"{Mb(r.BytesRead)} read, {Mb(r.BytesSent)} sent in {r.ChunksSent} chunks ({r.ChunksReused} reused, {r.ChunksRemoved} removed) in {s:0.0} s ({r.BytesRead / 1e6 / s:0.0} MB/s)");
            return 0;
        }));
        return command;
    }

    private static Command Mirror(GlobalOptions g)
    {
        var set = SetArgument();
        var dir = DirArgument("The mirror directory (created if missing; .dt-files inside holds the mirror's state)");
        var once = new Option<bool>("--once") { Description = "One pass, then exit (1 if any file could not be written or a manifest was refused)" };
        var (rate, parallel) = FetchOptions();
        var command = new Command("mirror", "Keep a directory equal to a file set as this node holds it, until Ctrl-C") { set, dir, once, rate, parallel };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string name = parse.GetValue(set)!;
            RequireSet(name);
            var mirror = new FileMirror(client, name, parse.GetValue(dir)!, MirrorOptionsOf(parse, rate, parallel));
            var bar = new ProgressLine(g.Console);
            var progress = MirrorProgressOf(bar);
            var clock = Stopwatch.StartNew();
            if (parse.GetValue(once))
            {
                var r = await mirror.SyncOnceAsync(progress, ct);
                bar.Done();
                await ReportAsync(g, name, mirror.Directory, r, clock.Elapsed);
                return r.Complete && r.Refused == 0 ? 0 : 1;
            }
            try
            {
                await mirror.FollowAsync(r =>
                {
                    bar.Done();
                    ReportAsync(g, name, mirror.Directory, r, clock.Elapsed).GetAwaiter().GetResult();
                    clock.Restart();
                }, progress, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Ctrl-C is how a following mirror normally ends.
            }
            return 0;
        }));
        return command;
    }

    private static Command Restore(GlobalOptions g)
    {
        var set = SetArgument();
        var dir = DirArgument("Where to rebuild the set (created if missing)");
        var (rate, parallel) = FetchOptions();
        var command = new Command("restore", "Rebuild a directory from a file set as this node holds it (one pass; exit 1 unless every file was restored)") { set, dir, rate, parallel };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string name = parse.GetValue(set)!;
            RequireSet(name);
            var bar = new ProgressLine(g.Console);
            var clock = Stopwatch.StartNew();
            var r = await FileMirror.RestoreAsync(client, name, parse.GetValue(dir)!, MirrorOptionsOf(parse, rate, parallel), MirrorProgressOf(bar), ct: ct);
            bar.Done();
            await ReportAsync(g, name, Path.GetFullPath(parse.GetValue(dir)!), r, clock.Elapsed, "restored");
            return r.Refused == 0 ? 0 : 1;
        }));
        return command;
    }

    private static (Option<double?> Rate, Option<int> Parallel) FetchOptions() =>
        (new Option<double?>("--max-rate") { Description = "Fetch at most this many MB (10^6 bytes) per second", HelpName = "MB/S" },
         new Option<int>("--parallel") { Description = "Chunks fetched at once", DefaultValueFactory = _ => 4, HelpName = "N" });

    private static MirrorOptions MirrorOptionsOf(ParseResult parse, Option<double?> rate, Option<int> parallel)
    {
        if (parse.GetValue(rate) is <= 0) throw new CliException("--max-rate must be positive");
        if (parse.GetValue(parallel) is < 1 or > 64) throw new CliException("--parallel must be between 1 and 64");
        return new MirrorOptions { MaxBytesPerSecond = parse.GetValue(rate) * 1e6, ParallelFetches = parse.GetValue(parallel) };
    }

    private static IProgress<MirrorProgress> MirrorProgressOf(ProgressLine bar)
    {
        string? current = null;
        var gate = new object();
        // Files are written several at a time: one line at a time, following the file last reported.
        return new Inline<MirrorProgress>(p =>
        {
            lock (gate) Report(p);
        });

        void Report(MirrorProgress p)
        {
            if (p.Path != current)
            {
                current = p.Path;
                bar.Event($"receiving {p.Path} ({Mb(p.FileBytes)})");
            }
            bar.Show($"{Bar(p.FileBytesDone, p.FileBytes)} {p.Path} {Mb(p.FileBytesDone)}/{Mb(p.FileBytes)}; file {p.FilesDone + 1:N0} of {p.FilesToWrite:N0}, {Mb(p.BytesFetched)} fetched");
        }
    }

    private static async Task ReportAsync(GlobalOptions g, string set, string dir, MirrorPassResult r, TimeSpan elapsed, string verb = "mirrored")
    {
        foreach (var e in r.Errors) await g.Console.Error.WriteLineAsync("dt: " + e);
        await g.Console.Out.WriteLineAsync(
            $"{verb} '{set}' into {dir}: {r.Files} files ({r.Written} written, {r.Deleted} deleted, {r.Unchanged} unchanged, {r.Failed} failed, {r.Refused} refused), " +
            $"{Mb(r.BytesFetched)} fetched in {elapsed.TotalSeconds:0.0} s");
        await g.Console.Out.FlushAsync();
    }

    private static void RequireSet(string name)
    {
        if (!FileSetNames.IsValid(name)) throw new CliException($"file set name '{name}' is invalid: {FileSetNames.Rule}");
    }

    private static string Mb(long bytes) => bytes < 1_000_000 ? $"{bytes / 1e3:0.0} kB" : $"{bytes / 1e6:0.0} MB";

    private static string Bar(long done, long total)
    {
        double f = total <= 0 ? 1 : Math.Clamp((double)done / total, 0, 1);
        return $"[{new string('#', (int)(f * 20)),-20}] {f * 100,3:0}%";
    }

    /// <summary>Progress invoked on the reporting thread (System.Progress would post it to the thread pool, out of order).</summary>
    private sealed class Inline<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

/// <summary>Progress on stderr: one line redrawn in place on a terminal; otherwise one line per second, and events
/// (a file started) as lines of their own.</summary>
internal sealed class ProgressLine(CliConsole console)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _last;
    private bool _drawn;

    public void Show(string text)
    {
        var now = _clock.Elapsed;
        if (_last is { } last && now - last < (console.ErrorIsTerminal ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(1))) return;
        _last = now;
        if (console.ErrorIsTerminal)
        {
            console.Error.Write("\r" + text.PadRight(90));
            _drawn = true;
        }
        else console.Error.WriteLine(text);
    }

    public void Event(string text)
    {
        if (console.ErrorIsTerminal) return;
        console.Error.WriteLine(text);
        console.Error.Flush();
    }

    public void Done()
    {
        if (_drawn) console.Error.WriteLine();
        _drawn = false;
    }
}
