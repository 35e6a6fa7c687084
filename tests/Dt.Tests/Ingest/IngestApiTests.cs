using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dt.Client;
using Dt.Model;
using Dt.Silo;
using Dt.Tests.Engine;
using Dt.Tests.Silo;
using Xunit;

namespace Dt.Tests.Ingest;

/// <summary>
/// The streamed NDJSON ingest (<c>POST .../objects:ingest</c>) and the buffered batch over the silo's HTTP API in
/// front of in-process nodes: objects arrive whatever the read boundaries and replicate; a bad line stores exactly the
/// lines before it; oversized lines and bodies are refused; hashes are those of single adds.
/// </summary>
public sealed class IngestApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Route(string table) => $"/v1/tables/{table}/objects:ingest";

    /// <summary>A body written in small pieces with a flush after each, so lines straddle the silo's reads.</summary>
    private sealed class TricklingContent(byte[] body, int piece) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (int i = 0; i < body.Length; i += piece)
            {
                await stream.WriteAsync(body.AsMemory(i, Math.Min(piece, body.Length - i)));
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false; // chunked: the silo cannot know the size up front
        }
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(InProcessSilo silo, string table, HttpContent content)
    {
        using var http = new HttpClient { BaseAddress = silo.Url };
        using var response = await http.PostAsync(Route(table), content, Ct);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone();
        return (response.StatusCode, body);
    }

    private static string Lines(int from, int count) =>
        string.Concat(Enumerable.Range(from, count).Select(i => $$"""{"id":{{i}},"name":"object {{i}}"}""" + "\n"));

    private static string HashOf(string json)
    {
        using var d = JsonDocument.Parse(json);
        return CanonicalJson.HashHex(d.RootElement);
    }

    [Fact]
    public async Task Lines_streamed_in_odd_pieces_are_all_stored_and_replicate()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var peer = await cluster.Start(peers: [master]);
        await using var silo = await InProcessSilo.StartAsync(master);
        // 2,500 objects (three chunks), a byte-order mark, CRLF endings, blank lines, and no newline at the end.
        string text = "\uFEFF" + Lines(0, 1200).Replace("\n", "\r\n") + "\n   \n" + Lines(1200, 1299) + """{"id":2499,"name":"object 2499"}""";
        var (status, body) = await PostAsync(silo, "trickle", new TricklingContent(Encoding.UTF8.GetBytes(text), 7));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2500, body.GetProperty("objects").GetInt64());
        Assert.Equal(2502, body.GetProperty("lines").GetInt64()); // 1,200 + an empty and a blank line + 1,299 + the last

        var table = master.GetTable("trickle");
        var summary = await table.GetSummary();
        Assert.Equal(2500, summary.Count);
        Assert.NotNull(await table.GetObject(HashOf("""{"name":"object 1199","id":1199}""")));
        await Eventually.Until(async () => await peer.GetTable("trickle").GetSummary() == summary, "the peer holds the ingested table", polling: Polling.InProcess);
    }

    [Fact]
    public async Task Ingest_batch_and_single_add_give_the_same_hash_for_the_same_object()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true);
        await using var silo = await InProcessSilo.StartAsync(node);
        using var client = silo.Client();
        string[] forms = ["""{"b":1.0,"a":[1e2,"\u00e9"]}""", """{ "a" : [ 100 , "é" ] , "b" : 1 }""", """{"a":[100.00,"\u00E9"],"b":10e-1}"""];
        string single = await client.GetTable("same").AddObject(JsonDocument.Parse(forms[1]).RootElement.Clone());
        var result = await client.IngestAsync("same", new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", forms))), Ct);
        Assert.Equal(3, result.Objects);
        var batch = await client.GetTable("same").AddObjects(forms.Select(f => JsonDocument.Parse(f).RootElement.Clone()).ToList());
        var utf8 = await client.GetTable("same").AddObjectsUtf8(forms.Select(Encoding.UTF8.GetBytes).ToList());
        Assert.All(batch.Concat(utf8), h => Assert.Equal(single, h));
        Assert.Equal(1, (await node.GetTable("same").GetSummary()).Count);
    }

    [Fact]
    public async Task A_bad_line_stops_the_ingest_and_exactly_the_lines_before_it_are_stored()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true);
        await using var silo = await InProcessSilo.StartAsync(node);
        // Line 1,501 is broken: one chunk (1,000) is committed before it, and 500 lines are pending when it comes.
        string text = Lines(0, 1500) + "{broken\n" + Lines(1500, 100);
        var (status, body) = await PostAsync(silo, "bad-line", new TricklingContent(Encoding.UTF8.GetBytes(text), 4096));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(DtErrorCodes.InvalidArgument, body.GetProperty("code").GetString());
        Assert.StartsWith("line 1501 is not valid JSON", body.GetProperty("detail").GetString());
        Assert.Contains("lines 1 to 1500 (1500 objects) were stored, nothing after", body.GetProperty("detail").GetString());
        Assert.Equal(1501, body.GetProperty("line").GetInt64());
        Assert.Equal(1500, body.GetProperty("storedLines").GetInt64());
        Assert.Equal(1500, body.GetProperty("storedObjects").GetInt64());
        Assert.Equal(1500, (await node.GetTable("bad-line").GetSummary()).Count);
        Assert.Null(await node.GetTable("bad-line").GetObject(HashOf("""{"id":1500,"name":"object 1500"}""")));

        // Resuming from the refused line (fixed) completes the table: nothing lost, nothing twice.
        using var client = silo.Client();
        var again = await client.IngestAsync("bad-line", new MemoryStream(Encoding.UTF8.GetBytes("{\"fixed\":true}\n" + Lines(1500, 100))), Ct);
        Assert.Equal(101, again.Objects);
        Assert.Equal(1601, (await node.GetTable("bad-line").GetSummary()).Count);

        // Through DtClient the refusal is a DtException that carries what was stored.
        var e = await Assert.ThrowsAsync<DtException>(() => client.IngestAsync("bad-line-2", new MemoryStream(Encoding.UTF8.GetBytes("1\n2\n{\"a\":1,\"a\":2}\n3\n")), Ct));
        Assert.Equal(DtErrorCodes.InvalidArgument, e.Code);
        Assert.StartsWith("line 3 is not a valid object: Duplicate member name", e.Message);
        Assert.Equal(2L, e.Data["storedLines"]);
        Assert.Equal(2L, e.Data["storedObjects"]);
        Assert.Equal(2, (await node.GetTable("bad-line-2").GetSummary()).Count);
    }

    [Fact]
    public async Task Oversized_lines_and_bodies_are_refused_with_what_was_stored()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true, configure: o => o.MaxObjectBytes = 1024);
        await using var silo = await InProcessSilo.StartAsync(node, new SiloOptions { MaxIngestBytes = 64 * 1024 });

        // A line over Dt:MaxObjectBytes, cut across many reads: refused before it is parsed, its line named.
        string longLine = "\"" + new string('x', 3000) + "\"\n";
        var (status, body) = await PostAsync(silo, "long", new TricklingContent(Encoding.UTF8.GetBytes("1\n2\n" + longLine + "3\n"), 100));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal(DtErrorCodes.TooLarge, body.GetProperty("code").GetString());
        Assert.StartsWith("line 3 is longer than 1024 bytes", body.GetProperty("detail").GetString());
        Assert.Equal(2, body.GetProperty("storedLines").GetInt64());
        Assert.Equal(2, (await node.GetTable("long").GetSummary()).Count);

        // A short line whose canonical form is over the cap (1e20 becomes 21 digits).
        string wide = "[" + string.Join(",", Enumerable.Repeat("1e20", 60)) + "]\n";
        (status, body) = await PostAsync(silo, "wide", new StringContent("1\n" + wide, Encoding.UTF8));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.StartsWith("line 2 is too large", body.GetProperty("detail").GetString());
        Assert.Equal(1, (await node.GetTable("wide").GetSummary()).Count);

        // A declared length over Silo:MaxIngestBytes: refused before anything is read.
        string big = Lines(0, 3000);
        (status, body) = await PostAsync(silo, "declared", new StringContent(big, Encoding.UTF8));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("Silo:MaxIngestBytes", body.GetProperty("detail").GetString());
        Assert.Equal(0, (await node.GetTable("declared").GetSummary()).Count);

        // A chunked body cut off at the cap: the lines before the cut are stored, and the answer says how many.
        (status, body) = await PostAsync(silo, "chunked", new TricklingContent(Encoding.UTF8.GetBytes(big), 8192));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        long stored = body.GetProperty("storedObjects").GetInt64();
        Assert.True(stored > 0, body.ToString());
        Assert.InRange(stored, 1, 2999);
        Assert.Equal(stored, (await node.GetTable("chunked").GetSummary()).Count);
        Assert.Equal(stored, body.GetProperty("storedLines").GetInt64());
    }

    [Fact]
    public async Task A_non_master_refuses_an_ingest_and_stores_nothing()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: false);
        await using var silo = await InProcessSilo.StartAsync(node);
        var (status, body) = await PostAsync(silo, "nm", new StringContent(Lines(0, 10), Encoding.UTF8, "application/x-ndjson"));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(DtErrorCodes.NotMaster, body.GetProperty("code").GetString());
        Assert.Equal(0, body.GetProperty("storedLines").GetInt64());
        Assert.Equal(0, (await node.GetTable("nm").GetSummary()).Count);
    }

    [Fact]
    public async Task A_batch_array_is_all_or_nothing_and_names_the_bad_element()
    {
        await using var cluster = new TestCluster();
        var node = await cluster.Start(master: true);
        await using var silo = await InProcessSilo.StartAsync(node);
        using var http = new HttpClient { BaseAddress = silo.Url };
        using var ok = await http.PostAsync("/v1/tables/arr/objects:batch", new StringContent("""[{"b":2,"a":1}, 1.50, "x", [ ]]""", Encoding.UTF8, "application/json"), Ct);
        var hashes = JsonDocument.Parse(await ok.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("hashes").EnumerateArray().Select(h => h.GetString()).ToList();
        Assert.Equal([HashOf("""{"a":1,"b":2}"""), HashOf("1.5"), HashOf("\"x\""), HashOf("[]")], hashes);

        using var bad = await http.PostAsync("/v1/tables/arr2/objects:batch", new StringContent("""[1, 2, {"a":1,"a":1}, 4]""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("element 2 of the array", await bad.Content.ReadAsStringAsync(Ct));
        Assert.Equal(0, (await node.GetTable("arr2").GetSummary()).Count);
    }
}
