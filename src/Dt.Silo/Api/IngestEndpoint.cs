using System.Buffers;
using System.IO.Pipelines;
using Dt.Client;
using Dt.Hosting;
using Microsoft.AspNetCore.Http.Features;

namespace Dt.Silo.Api;

/// <summary>
/// <c>POST /v1/tables/{table}/objects:ingest</c>: NDJSON streamed from the request body pipe as it arrives, one
/// object per line, canonicalized straight from the bytes into the engine's batch and committed every
/// <see cref="ChunkObjects"/> objects (or <see cref="ChunkBytes"/>), so memory stays bounded whatever the body's size
/// and the log's fsync of one chunk overlaps the reading of the next. The answer comes once all is durable.
/// A bad line (not JSON, too long, too large), the body cap, or a refusal of the engine stops the ingest: every line
/// before it is stored (and durable), nothing from it on; the problem says which line and how much was stored.
/// </summary>
internal static class IngestEndpoint
{
    public const int ChunkObjects = 1000;
    public const int ChunkBytes = 1 << 20;

    public static async Task HandleAsync(HttpContext ctx)
    {
        string table = ApiEndpoints.TableName(ctx);
        TableNames.Require(table);
        var node = ApiEndpoints.DtNode(ctx);
        long limit = ctx.RequestServices.GetRequiredService<SiloOptions>().MaxIngestBytes;
        if (ctx.Request.ContentLength > limit)
            throw new DtException(DtErrorCodes.TooLarge, $"the request body of {ctx.Request.ContentLength} bytes is over the limit of {limit} bytes (Silo:MaxIngestBytes); split it");
        // The cap is counted here, not by Kestrel (which reads ahead of what was consumed), so that what is stored at
        // the cut is exactly the lines wholly within the first `limit` bytes.
        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = null;

        var ingest = new NdjsonIngest(node, table, node.Options.MaxObjectBytes);
        var reader = ctx.Request.BodyReader;
        long read = 0;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(ctx.RequestAborted);
                var buffer = result.Buffer;
                if (read + buffer.Length > limit)
                {
                    ingest.Consume(buffer.Slice(0, limit - read));
                    ingest.CommitComplete(); // the lines that arrived whole before the cut are kept
                    throw new IngestException(DtErrorCodes.TooLarge, $"the request body is over the limit of {limit} bytes (Silo:MaxIngestBytes); split it", null);
                }
                read += buffer.Length;
                ingest.Consume(buffer);
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted) break;
            }
            ingest.Finish();
        }
        catch (Exception e) when (e is IngestException or DtException)
        {
            // What was committed before the failure is kept: answer only once it is durable, and say how far it got.
            if (e is DtException) ingest.FailCommit(); // the engine refused the pending chunk (not_master, limit_reached)
            await node.WhenDurable();
            var (code, message, line) = e is IngestException ie ? (ie.Code, ie.Message, ie.Line) : (((DtException)e).Code, e.Message, (long?)null);
            string stored = ingest.StoredLines == 0 ? "nothing was stored" : $"lines 1 to {ingest.StoredLines} ({ingest.StoredObjects} objects) were stored, nothing after";
            var problem = Problems.For(code, $"{message}; {stored}") with { Line = line, StoredLines = ingest.StoredLines, StoredObjects = ingest.StoredObjects };
            await Problems.WriteAsync(ctx, problem);
            return;
        }
        await node.WhenDurable();
        await ApiEndpoints.WriteAsync(ctx, new IngestResult(ingest.StoredObjects, ingest.Line), DtJsonContext.Default.IngestResult);
    }

    /// <summary>A refusal at a known point of the stream; <see cref="Line"/> is the refused line, if one was.</summary>
    private sealed class IngestException(string code, string message, long? line) : Exception(message)
    {
        public string Code { get; } = code;

        public long? Line { get; } = line;
    }

    /// <summary>
    /// Splits what arrives into lines (a line cut by a read boundary is carried over, within the line cap), adds each
    /// to the batch and commits full chunks. Lines up to <see cref="StoredLines"/> are committed.
    /// </summary>
    private sealed class NdjsonIngest(DtNode node, string table, int maxLineBytes)
    {
        private readonly ObjectBatch _batch = node.CreateBatch();
        private readonly System.Buffers.ArrayBufferWriter<byte> _carry = new(4096);

        public long Line { get; private set; }

        public long StoredLines { get; private set; }

        public long StoredObjects { get; private set; }

        public void Consume(in System.Buffers.ReadOnlySequence<byte> buffer)
        {
            foreach (var memory in buffer)
            {
                var span = memory.Span;
                while (true)
                {
                    int nl = span.IndexOf((byte)'\n');
                    if (nl < 0)
                    {
                        Carry(span);
                        break;
                    }
                    if (_carry.WrittenCount > 0)
                    {
                        Carry(span[..nl]);
                        OnLine(_carry.WrittenSpan);
                        _carry.ResetWrittenCount();
                    }
                    else
                    {
                        OnLine(span[..nl]);
                    }
                    span = span[(nl + 1)..];
                }
            }
        }

        /// <summary>The end of the body: its last line (if it has no newline), then the last chunk.</summary>
        public void Finish()
        {
            if (_carry.WrittenCount > 0)
            {
                OnLine(_carry.WrittenSpan);
                _carry.ResetWrittenCount();
            }
            Commit();
        }

        /// <summary>Commits every complete line so far (a cut-off body: its last, partial line is dropped).</summary>
        public void CommitComplete() => Commit();

        /// <summary>The pending chunk was refused as a whole: it is dropped, what came before stays stored.</summary>
        public void FailCommit() => _batch.Clear();

        private void Carry(ReadOnlySpan<byte> part)
        {
            // +1: a line may end in "\r\n".
            if (_carry.WrittenCount + part.Length > maxLineBytes + 1) throw TooLong(Line + 1);
            _carry.Write(part);
        }

        private void OnLine(ReadOnlySpan<byte> line)
        {
            Line++;
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            if (line.Length > maxLineBytes) throw TooLong(Line);
            if (line.IndexOfAnyExcept(" \t\r"u8) < 0) return; // blank
            try
            {
                _batch.Add(line);
            }
            catch (DtException e)
            {
                CommitBefore(Line);
                throw new IngestException(e.Code, $"line {Line} is {e.Message}", Line);
            }
            if (_batch.Count >= ChunkObjects || _batch.Bytes >= ChunkBytes) Commit();
        }

        private IngestException TooLong(long line)
        {
            CommitBefore(line);
            return new IngestException(DtErrorCodes.TooLarge, $"line {line} is longer than {maxLineBytes} bytes (Dt:MaxObjectBytes)", line);
        }

        /// <summary>Stores every line before a refused one, so what is stored is exactly the lines before it.</summary>
        private void CommitBefore(long refusedLine)
        {
            Commit();
            StoredLines = refusedLine - 1;
        }

        private void Commit()
        {
            if (_batch.Count > 0)
            {
                int n = _batch.Count;
                node.AddObjects(table, _batch);
                StoredObjects += n;
            }
            StoredLines = Line;
        }
    }
}
