using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Dt.Client;

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
    /// Many JSON values: a JSON array, or NDJSON (one value per line, blank lines skipped). An "ndjson"/"jsonl"
    /// content type means NDJSON; otherwise a body starting with '[' is an array.
    /// </summary>
    public static ParsedValues ParseMany(ReadOnlyMemory<byte> body, string? contentType)
    {
        var parsed = new ParsedValues();
        try
        {
            bool ndjson = contentType is not null && (contentType.Contains("ndjson", StringComparison.OrdinalIgnoreCase)
                                                      || contentType.Contains("jsonl", StringComparison.OrdinalIgnoreCase));
            var span = body.Span.TrimStart(" \t\r\n"u8);
            if (!ndjson && span.Length > 0 && span[0] == (byte)'[')
            {
                var array = parsed.Keep(ParseValue(body));
                parsed.Values.AddRange(array.RootElement.EnumerateArray());
                return parsed;
            }
            int line = 0, start = 0;
            while (start <= body.Length)
            {
                int nl = body.Span[start..].IndexOf((byte)'\n');
                int end = nl < 0 ? body.Length : start + nl;
                line++;
                var text = body[start..end];
                if (!IsBlank(text.Span))
                {
                    try { parsed.Values.Add(parsed.Keep(JsonDocument.Parse(text, JsonOptions)).RootElement); }
                    catch (JsonException e) { throw new DtException(DtErrorCodes.InvalidArgument, $"line {line} of the request body is not valid JSON: {Where(e)}"); }
                }
                if (nl < 0) break;
                start = end + 1;
            }
            if (parsed.Values.Count == 0)
                throw new DtException(DtErrorCodes.InvalidArgument, "the request body holds no JSON value: send a JSON array or one JSON value per line");
            return parsed;
        }
        catch
        {
            parsed.Dispose();
            throw;
        }
    }

    /// <summary>Values parsed from a body, alive until disposed (they point into their documents).</summary>
    internal sealed class ParsedValues : IDisposable
    {
        private readonly List<JsonDocument> _docs = [];

        public List<JsonElement> Values { get; } = [];

        public JsonDocument Keep(JsonDocument d)
        {
            _docs.Add(d);
            return d;
        }

        public void Dispose()
        {
            foreach (var d in _docs) d.Dispose();
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> s) => s.Trim(" \t\r\n"u8).IsEmpty;

    // JsonException's message already names the line and byte; without the type name it reads as one sentence.
    private static string Where(JsonException e) => e.Message;
}
