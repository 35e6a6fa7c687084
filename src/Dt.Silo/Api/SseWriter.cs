using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>
/// Writes server-sent events to a response. Node events go as unnamed events (a browser's onmessage gets them)
/// with "id:" set to the event id, so EventSource's Last-Event-ID resumes them; synthetic events (id 0) carry no
/// id and leave the resume point alone.
/// </summary>
internal sealed class SseWriter(HttpResponse response)
{
    private readonly PipeWriter _pipe = response.BodyWriter;
    private readonly Utf8JsonWriter _json = new(response.BodyWriter);

    /// <summary>Whether enough is buffered to be worth sending before the next event.</summary>
    public bool ShouldFlush => _pipe.UnflushedBytes > 32 * 1024;

    public async Task StartAsync(CancellationToken ct)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers["X-Accel-Buffering"] = "no"; // tells nginx-like proxies not to hold events back
        // A browser's EventSource reconnects after this many ms.
        Ascii("retry: 1000\n\n");
        await FlushAsync(ct);
    }

    public void Event(DtEvent e)
    {
        if (e.Id > 0) Ascii($"id: {e.Id}\n");
        Data(e, DtJsonContext.Default.DtEvent);
    }

    public void Ready(EventStreamReady ready)
    {
        Ascii($"event: {DtApiRoutes.ReadyEvent}\n");
        if (ready.Fresh) Ascii($"id: {ready.LastEventId}\n");
        Data(ready, DtJsonContext.Default.EventStreamReady);
    }

    public void Error(DtProblem problem)
    {
        Ascii($"event: {DtApiRoutes.ErrorEvent}\n");
        Data(problem, DtJsonContext.Default.DtProblem);
    }

    public void KeepAlive() => Ascii(": keep-alive\n\n");

    public async Task FlushAsync(CancellationToken ct) => await _pipe.FlushAsync(ct);

    private void Data<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        Ascii("data: ");
        // The JSON is written compact, so it never holds a newline that would split the data field.
        _json.Reset(_pipe);
        JsonSerializer.Serialize(_json, value, type);
        _json.Flush();
        Ascii("\n\n");
    }

    private void Ascii(string s)
    {
        var span = _pipe.GetSpan(s.Length);
        int n = Encoding.ASCII.GetBytes(s, span);
        _pipe.Advance(n);
    }
}
