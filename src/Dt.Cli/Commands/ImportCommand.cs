using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Dt.Client;

namespace Dt.Cli.Commands;

/// <summary>
/// `dt import [--table T] FILE.jsonl|-`: adds every line's JSON value, in batches through the batch endpoint, with
/// a progress bar on stderr. Every line is checked before its batch is sent; a bad line stops the import with its
/// line number (the batches before it are already added; adding them again is harmless, objects are sets).
/// </summary>
public static class ImportCommand
{
    /// <summary>Bytes of JSON per batch: well under the silo's default 4 MiB body cap.</summary>
    private const int MaxBatchBytes = 2 << 20;

    public static Command Create(GlobalOptions g)
    {
        var table = GlobalOptions.TableOption();
        var file = new Argument<string>("file") { Description = "JSON Lines file (one JSON value per line; blank lines skipped), or - for standard input", HelpName = "FILE.jsonl|-" };
        var batch = new Option<int>("--batch-size") { Description = "Objects per request", DefaultValueFactory = _ => 5000, HelpName = "N" };
        var command = new Command("import", "Add every object of a JSON Lines file, in batches (master nodes only)") { table, file, batch };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            int batchSize = parse.GetValue(batch);
            if (batchSize is < 1 or > 100_000) throw new CliException("--batch-size must be between 1 and 100000");
            string path = parse.GetValue(file)!, t = parse.GetValue(table)!;
            if (path != "-" && !File.Exists(path)) throw new CliException($"file not found: {path}");
            await using var input = path == "-" ? g.Console.OpenStandardInput() : File.OpenRead(path);
            long? total = input.CanSeek ? input.Length : null;
            var progress = new ImportProgress(g.Console, total);
            long count = await ImportAsync(client.GetTable(t), input, batchSize, progress, ct);
            progress.Finish(count);
            await g.Console.Out.WriteLineAsync($"imported {count} objects into table '{t}' in {progress.Elapsed.TotalSeconds:0.0} s ({count / Math.Max(progress.Elapsed.TotalSeconds, 0.001):0} objects/s)");
            return 0;
        }));
        return command;
    }

    /// <summary>Reads and sends; the next batch is read and checked while the previous one is on its way.</summary>
    private static async Task<long> ImportAsync(ITableGrain table, Stream input, int batchSize, ImportProgress progress, CancellationToken ct)
    {
        using var reader = new StreamReader(input, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        var sender = new BatchSender(table, batchSize);
        long line = 0, sent = 0;
        Task<int>? inFlight = null;
        while (true)
        {
            var docs = new List<JsonDocument>(sender.BatchSize);
            long bytes = 0;
            try
            {
                while (docs.Count < sender.BatchSize && bytes < MaxBatchBytes && await reader.ReadLineAsync(ct) is { } text)
                {
                    line++;
                    if (string.IsNullOrWhiteSpace(text)) continue;
                    try { docs.Add(JsonDocument.Parse(text)); }
                    catch (JsonException e) { throw new CliException($"line {line} is not valid JSON: {e.Message}"); }
                    bytes += text.Length;
                }
            }
            catch
            {
                foreach (var d in docs) d.Dispose();
                if (inFlight is not null) await inFlight;
                throw;
            }
            if (inFlight is not null)
            {
                sent += await inFlight;
                progress.Report(sent, input);
            }
            if (docs.Count == 0) return sent;
            inFlight = sender.SendAsync(docs);
        }
    }

    /// <summary>
    /// Sends batches, halving a batch the silo refuses as too large (its Silo:MaxBodyBytes is not known here) and
    /// keeping the smaller size for the batches after it.
    /// </summary>
    private sealed class BatchSender(ITableGrain table, int batchSize)
    {
        public int BatchSize { get; private set; } = batchSize;

        public async Task<int> SendAsync(List<JsonDocument> docs)
        {
            try
            {
                return await SendPartAsync(docs.Select(d => d.RootElement).ToList());
            }
            finally
            {
                foreach (var d in docs) d.Dispose();
            }
        }

        private async Task<int> SendPartAsync(List<JsonElement> values)
        {
            try
            {
                return (await table.AddObjects(values)).Count;
            }
            catch (DtException e) when (e.Code == DtErrorCodes.TooLarge && values.Count > 1)
            {
                int half = values.Count / 2;
                BatchSize = Math.Max(1, Math.Min(BatchSize, half));
                return await SendPartAsync(values[..half]) + await SendPartAsync(values[half..]);
            }
        }
    }

    /// <summary>The progress line on stderr: a bar redrawn in place on a terminal, a line per second otherwise.</summary>
    private sealed class ImportProgress(CliConsole console, long? totalBytes)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan? _lastDraw;

        public TimeSpan Elapsed => _clock.Elapsed;

        public void Report(long objects, Stream input)
        {
            var now = _clock.Elapsed;
            if (_lastDraw is { } last && now - last < (console.ErrorIsTerminal ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(1))) return;
            _lastDraw = now;
            Draw(objects, totalBytes is { } total && input.CanSeek ? (double)input.Position / Math.Max(total, 1) : null, final: false);
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
            else if (!final)
            {
                console.Error.WriteLine(text);
            }
        }
    }
}
