using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Dt.Client;

/// <summary><see cref="ITableGrain"/> over the silo's HTTP API.</summary>
public class RemoteTableGrain : ITableGrain
{
    private readonly DtApiConnection _api;

    internal RemoteTableGrain(string table, DtApiConnection api)
    {
        TableNames.Require(table);
        Table = table;
        _api = api;
    }

    public string Table { get; }

    public async Task<string> AddObject(JsonElement value)
    {
        var result = await _api.PostAsync(DtApiRoutes.Objects(Table), Serialize(value), DtJsonContext.Default.HashResult);
        return result.Hash;
    }

    public async Task<IReadOnlyList<string>> AddObjects(IReadOnlyList<JsonElement> values)
    {
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(values, DtJsonContext.Default.IReadOnlyListJsonElement);
        var result = await _api.PostAsync(DtApiRoutes.ObjectsBatch(Table), body, DtJsonContext.Default.HashesResult);
        return result.Hashes;
    }

    /// <summary>Sent as one JSON array to <c>objects:batch</c> (all or nothing there too). Each value is checked to be
    /// exactly one JSON value first, so no value can change how the array is read.</summary>
    public async Task<IReadOnlyList<string>> AddObjectsUtf8(IReadOnlyList<byte[]> values)
    {
        var body = new System.Buffers.ArrayBufferWriter<byte>(values.Sum(v => v?.Length + 1 ?? 0) + 2);
        body.Write("["u8);
        for (int i = 0; i < values.Count; i++)
        {
            var value = OneValue(values[i], i);
            if (i > 0) body.Write(","u8);
            body.Write(value);
        }
        body.Write("]"u8);
        var result = await _api.PostAsync(DtApiRoutes.ObjectsBatch(Table), body.WrittenSpan.ToArray(), DtJsonContext.Default.HashesResult);
        return result.Hashes;
    }

    private ReadOnlySpan<byte> OneValue(byte[]? utf8, int index)
    {
        ReadOnlySpan<byte> span = utf8 ?? throw new DtException(DtErrorCodes.InvalidArgument, $"value {index} of the batch (counting from 0) for table '{Table}' is null");
        if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
        try
        {
            var reader = new Utf8JsonReader(span, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read()) throw new JsonException("it holds no JSON value");
            reader.Skip();
            while (reader.Read()) { } // throws on anything after the value
        }
        catch (JsonException e)
        {
            throw new DtException(DtErrorCodes.InvalidArgument, $"value {index} of the batch (counting from 0) for table '{Table}': not valid JSON: {e.Message}");
        }
        return span;
    }

    public Task<bool> RemoveObject(string hash) =>
        _api.SendNoContentAsync(HttpMethod.Delete, DtApiRoutes.Object(Table, hash));

    public Task<bool> RemoveObjectByValue(JsonElement value) =>
        _api.SendNoContentAsync(HttpMethod.Post, DtApiRoutes.ObjectsRemove(Table), Serialize(value));

    public Task<ObjectRecord?> GetObject(string hash) =>
        _api.GetOrNullAsync(DtApiRoutes.Object(Table, hash), DtJsonContext.Default.ObjectRecord);

    public async IAsyncEnumerable<ObjectRecord> ListObjects([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var response = await _api.OpenStreamAsync(DtApiRoutes.Objects(Table), "application/json", cancellationToken);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        // Streamed element by element: a large table never sits in memory as one document.
        var items = JsonSerializer.DeserializeAsyncEnumerable(stream, DtJsonContext.Default.ObjectRecord, cancellationToken);
        await using var e = items.GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            ObjectRecord? item;
            try
            {
                if (!await e.MoveNextAsync()) yield break;
                item = e.Current;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException)
            {
                throw new DtException(DtErrorCodes.Unavailable, $"the object list of table '{Table}' broke off: {ex.Message}", ex);
            }
            catch (JsonException ex)
            {
                throw new DtException(DtApiErrors.Internal, $"the object list of table '{Table}' is not the expected JSON: {ex.Message}", ex);
            }
            if (item is not null) yield return item;
        }
    }

    public Task<TableSummary> GetSummary() => _api.GetAsync(DtApiRoutes.Table(Table), DtJsonContext.Default.TableSummary);

    public IAsyncEnumerable<DtEvent> Subscribe(EventSubscription subscription, CancellationToken cancellationToken = default) =>
        EventStream.Read(_api, subscription with { Table = Table }, types: null, cancellationToken);

    internal static byte[] Serialize(JsonElement value) => JsonSerializer.SerializeToUtf8Bytes(value, DtJsonContext.Default.JsonElement);
}
