using System.Runtime.CompilerServices;
using System.Text.Json;
using Dt.Hosting;
using Dt.Replication;
using Dt.Model;

namespace Dt.InProcess;

/// <summary>One replicated table, keyed by its name. Changes succeed only on master nodes.</summary>
public class LocalTableGrain : ITableGrain
{
    private readonly DtNode _node;

    public LocalTableGrain(string table, DtNode node)
    {
        TableNames.Require(table);
        Table = table;
        _node = node;
    }

    public string Table { get; }

    public async Task<string> AddObject(JsonElement value) => (await AddObjects([value]))[0];

    /// <summary>Adds objects; completes once the change is durable on this master (on disk, with disk storage).</summary>
    public async Task<IReadOnlyList<string>> AddObjects(IReadOnlyList<JsonElement> values)
    {
        var canonical = new byte[values.Count][];
        for (int i = 0; i < values.Count; i++) canonical[i] = Canonical(values[i]);
        var hashes = _node.Replicator.Add(Table, canonical);
        await _node.Replicator.WhenDurable();
        return hashes.Select(h => h.ToString()).ToList();
    }

    public Task<IReadOnlyList<string>> AddObjectsUtf8(IReadOnlyList<byte[]> values) => _node.AddObjectsUtf8Async(Table, values);

    public async Task<bool> RemoveObject(string hash)
    {
        bool removed = _node.Replicator.Remove(Table, ParseHash(hash));
        if (removed) await _node.Replicator.WhenDurable();
        return removed;
    }

    public Task<bool> RemoveObjectByValue(JsonElement value) => RemoveObject(ObjectHash.Of(Canonical(value)).ToString());

    public Task<ObjectRecord?> GetObject(string hash)
    {
        var h = ParseHash(hash);
        var t = _node.Replicator.Find(Table);
        if (t is null) return Task.FromResult<ObjectRecord?>(null);
        if (!t.TryGetLive(h, out var json)) return Task.FromResult<ObjectRecord?>(null);
        return Task.FromResult<ObjectRecord?>(new ObjectRecord(h.ToString(), Events.EventHub.Parse(json)));
    }

    public async IAsyncEnumerable<ObjectRecord> ListObjects([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var t = _node.Replicator.Find(Table);
        if (t is null) yield break;
        foreach (var (h, json) in t.SnapshotLive())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new ObjectRecord(h.ToString(), Events.EventHub.Parse(json));
        }
        await Task.CompletedTask;
    }

    public Task<TableSummary> GetSummary()
    {
        var t = _node.Replicator.Find(Table);
        return Task.FromResult(t is null ? new TableSummary(Table, 0, Summarize(new TableState(Table)).Digest) : Summarize(t));
    }

    public IAsyncEnumerable<DtEvent> Subscribe(EventSubscription subscription, CancellationToken cancellationToken = default) =>
        Subscribe(_node, subscription with { Table = Table }, cancellationToken);

    internal static TableSummary Summarize(TableState t)
    {
        var (count, digest) = t.Summary();
        return new TableSummary(t.Name, count, digest);
    }

    /// <summary>Events after the subscription's id; first, if asked, an object_added (id 0) for each object held.</summary>
    internal static async IAsyncEnumerable<DtEvent> Subscribe(DtNode node, EventSubscription s, [EnumeratorCancellation] CancellationToken ct)
    {
        if (s.Table is not null) TableNames.Require(s.Table);
        // Register before the snapshot so nothing falls between the two (an object may then appear twice).
        await using var feed = node.Events.Open(s.Table, s.AfterEventId);
        if (s.IncludeExisting)
        {
            foreach (var t in node.Replicator.Tables)
            {
                if (s.Table is not null && t.Name != s.Table) continue;
                foreach (var (h, json) in t.SnapshotLive())
                    yield return new DtEvent(0, DtEventTypes.ObjectAdded, node.Time.GetUtcNow(), t.Name, h.ToString(), Events.EventHub.Parse(json), "existing");
            }
        }
        await foreach (var e in feed.ReadAllAsync(ct)) yield return e;
    }

    private byte[] Canonical(JsonElement value)
    {
        try
        {
            return CanonicalJson.ToBytes(value);
        }
        catch (FormatException e)
        {
            throw new DtException(DtErrorCodes.InvalidArgument, $"object is not valid for table '{Table}': {e.Message}");
        }
    }

    private static ObjectHash ParseHash(string hash)
    {
        if (!ObjectHash.TryParse(hash, out var h))
            throw new DtException(DtErrorCodes.InvalidArgument, $"'{hash}' is not an object hash (64 hex characters)");
        return h;
    }
}
