using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Dt.Client;
using Dt.Hosting;

namespace Dt.Silo.Api;

/// <summary>
/// Reads request bodies within Silo:MaxBodyBytes (a declared length over it is refused before a byte is read; a
/// chunked body is counted as it arrives) and parses them as JSON, a JSON array, or NDJSON, with errors that say
/// where the input is wrong.
/// </summary>
internal static class RequestBody
{
    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 64 };

    public static string TooLargeMessage(long? length, long limit) =>
        length is { } n
            ? $"the request body of {n} bytes is over the limit of {limit} bytes (Silo:MaxBodyBytes); split it, e.g. into batches"
            : $"the request body is over the limit of {limit} bytes (Silo:MaxBodyBytes); split it, e.g. into batches";

    public static async Task<ReadOnlyMemory<byte>> ReadAsync(HttpContext ctx, long limit)
    {
        long? declared = ctx.Request.ContentLength;
        if (declared > limit) throw new DtException(DtErrorCodes.TooLarge, TooLargeMessage(declared, limit));
        var reader = ctx.Request.BodyReader;
        var buffer = new ArrayBufferWriter<byte>((int)Math.Min(declared ?? 4096, limit) + 1);
        while (true)
        {
            ReadResult result = await reader.ReadAsync(ctx.RequestAborted);
            foreach (var segment in result.Buffer)
            {
                if (buffer.WrittenCount + (long)segment.Length > limit)
                    throw new DtException(DtErrorCodes.TooLarge, TooLargeMessage(null, limit));
                buffer.Write(segment.Span);
            }
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) break;
        }
        return buffer.WrittenMemory;
    }

    /// <summary>One JSON value; the caller disposes the document.</summary>
    public static JsonDocument ParseValue(ReadOnlyMemory<byte> body)
    {
        if (IsBlank(body.Span)) throw new DtException(DtErrorCodes.InvalidArgument, "the request body is empty: send a JSON value");
        try
        {
            return JsonDocument.Parse(body, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new DtException(DtErrorCodes.InvalidArgument, $"the request body is not valid JSON: {Where(e)}");
        }
    }

    /// <summary>
    /// Many JSON values into <paramref name="batch"/>, each canonicalized straight from the body's bytes: a JSON
    /// array, or NDJSON (one value per line, blank lines skipped). An "ndjson"/"jsonl" content type means NDJSON;
    /// otherwise a body starting with '[' is an array. Any bad value refuses the whole body (the batch is then
    /// incomplete and must not be committed).
    /// </summary>
    public static void ParseMany(ReadOnlyMemory<byte> body, string? contentType, ObjectBatch batch)
    {
        var span = body.Span;
        bool ndjson = contentType is not null && (contentType.Contains("ndjson", StringComparison.OrdinalIgnoreCase)
                                                  || contentType.Contains("jsonl", StringComparison.OrdinalIgnoreCase));
        var trimmed = span.TrimStart(" \t\r\n"u8);
        if (!ndjson && trimmed.Length > 0 && trimmed[0] == (byte)'[')
        {
            ParseArray(span, batch);
            return;
        }
        int line = 0, start = 0;
        while (start <= span.Length)
        {
            int nl = span[start..].IndexOf((byte)'\n');
            int end = nl < 0 ? span.Length : start + nl;
            line++;
            var text = span[start..end];
            if (!IsBlank(text))
            {
                try { batch.Add(text); }
                catch (DtException e) { throw new DtException(e.Code, $"line {line} of the request body is {e.Message}"); }
            }
            if (nl < 0) break;
            start = end + 1;
        }
        if (batch.Count == 0)
            throw new DtException(DtErrorCodes.InvalidArgument, "the request body holds no JSON value: send a JSON array or one JSON value per line");
    }

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };

    private static void ParseArray(ReadOnlySpan<byte> body, ObjectBatch batch)
    {
        var reader = new Utf8JsonReader(body, ReaderOptions);
        int index = 0;
        try
        {
            reader.Read(); // '['
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                try { batch.Add(ref reader); }
                catch (DtException e) { throw new DtException(e.Code, $"element {index} of the array (counting from 0) is {e.Message}"); }
                index++;
            }
            while (reader.Read()) { } // throws on anything after the array
        }
        catch (JsonException e)
        {
            throw new DtException(DtErrorCodes.InvalidArgument, $"the request body is not valid JSON: {Where(e)}");
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> s) => s.Trim(" \t\r\n"u8).IsEmpty;

    // JsonException's message already names the line and byte; without the type name it reads as one sentence.
    private static string Where(JsonException e) => e.Message;
}
