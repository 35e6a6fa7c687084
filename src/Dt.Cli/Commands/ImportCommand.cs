using System.CommandLine;
using System.Diagnostics;
using Dt.Client;

namespace Dt.Cli.Commands;

/// <summary>
/// `dt import [--table T] FILE.jsonl|-`: streams the file to the silo's NDJSON ingest (<c>objects:ingest</c>), which
/// checks and commits it in chunks as it arrives, with a progress bar on stderr. A bad line stops the import with its
/// line number; every line before it is stored (adding them again is harmless, objects are sets), nothing after.
/// </summary>
public static class ImportCommand
{
    public static Command Create(GlobalOptions g)
    {
        var table = GlobalOptions.TableOption();
        var file = new Argument<string>("file") { Description = "JSON Lines file (one JSON value per line; blank lines skipped), or - for standard input", HelpName = "FILE.jsonl|-" };
        var command = new Command("import", "Add every object of a JSON Lines file, streamed to the silo (master nodes only)") { table, file };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string path = parse.GetValue(file)!, t = parse.GetValue(table)!;
            if (path != "-" && !File.Exists(path)) throw new CliException($"file not found: {path}");
            await using var input = path == "-" ? g.Console.OpenStandardInput() : File.OpenRead(path);
            var progress = new ImportProgress(g.Console, input.CanSeek ? input.Length : null);
            // A refusal arrives as DtException: its message names the line and what was stored before it.
            var result = await client.IngestAsync(t, new CountingStream(input, progress), ct);
            progress.Finish(result.Objects);
            await g.Console.Out.WriteLineAsync($"imported {result.Objects} objects into table '{t}' in {progress.Elapsed.TotalSeconds:0.0} s ({result.Objects / Math.Max(progress.Elapsed.TotalSeconds, 0.001):0} objects/s)");
            return 0;
        }));
        return command;
    }

    /// <summary>Passes the input through as it is sent, counting bytes and lines for the progress bar.</summary>
    private sealed class CountingStream(Stream inner, ImportProgress progress) : Stream
    {
        private long _bytes, _lines;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _bytes; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Counted(buffer.AsSpan(offset, inner.Read(buffer, offset, count)));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await inner.ReadAsync(buffer, cancellationToken);
            return Counted(buffer.Span[..n]);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Counted(ReadOnlySpan<byte> read)
        {
            _bytes += read.Length;
            _lines += read.Count((byte)'\n');
            progress.Report(_lines, _bytes);
            return read.Length;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>The progress line on stderr: a bar redrawn in place on a terminal, a line per second otherwise.</summary>
    private sealed class ImportProgress(CliConsole console, long? totalBytes)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan? _lastDraw;

        public TimeSpan Elapsed => _clock.Elapsed;

        /// <summary>Lines sent so far stand for objects until the silo's count arrives.</summary>
        public void Report(long objects, long bytesSent)
        {
            var now = _clock.Elapsed;
            // The first line after one interval: an import that fails at once shows only its error.
            if (now - (_lastDraw ?? TimeSpan.Zero) < (console.ErrorIsTerminal ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(1))) return;
            _lastDraw = now;
            Draw(objects, totalBytes is { } total ? (double)bytesSent / Math.Max(total, 1) : null, final: false);
        }

        public void Finish(long objects) => Draw(objects, totalBytes is null ? null : 1.0, final: true);

        private void Draw(long objects, double? fraction, bool final)
        {
            double rate = objects / Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
            string bar = fraction is { } f ? $"[{new string('#', (int)(Math.Clamp(f, 0, 1) * 30)),-30}] {Math.Clamp(f, 0, 1) * 100:0}% " : "";
            string text = $"{bar}{objects:N0} objects, {rate:N0}/s";
            if (console.ErrorIsTerminal)
            {
                console.Error.Write("\r" + text.PadRight(70));
                if (final) console.Error.WriteLine();
            }
            else
            {
                console.Error.WriteLine(text);
            }
        }
    }
}
