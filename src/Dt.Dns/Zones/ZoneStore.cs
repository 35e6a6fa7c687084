using System.Text.Json;
using Dt.Dns.Wire;
using Microsoft.Extensions.Logging;

namespace Dt.Dns.Zones;

/// <summary>
/// Follows the DNS table of a node through the grain interfaces and serves consistent zone versions.
/// <para>It subscribes to the table's events first, then lists the table (so nothing falls between the two: events
/// are replayed onto the listing, and each event sets an object's presence absolutely), and keeps per zone the objects
/// held. After each burst of events it re-checks the touched zones: when a zone's content digest matches a serial
/// marker with a serial above the one in service, a new immutable <see cref="ZoneSnapshot"/> is built and published
/// (with an IXFR diff from the previous one). Otherwise the previous snapshot stays in service: a node never serves
/// a half-applied change under any serial.</para>
/// <para>The subscription is re-opened (with a fresh listing) if it fails or ends, and, as a guard for remote
/// factories, if the table's object count stays different from the one followed here for two checks in a row.</para>
/// </summary>
public sealed class ZoneStore : IAsyncDisposable
{
    private readonly IDtGrainFactory _grains;
    private readonly DnsOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, RawZone> _raw = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _zoneOfHash = new(StringComparer.Ordinal);
    private readonly HashSet<string> _allHashes = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private ZoneTable _table = ZoneTable.Empty;
    private Task _loop = Task.CompletedTask;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ZoneStore(IDtGrainFactory grains, DnsOptions options, ILogger log, TimeProvider? time = null)
    {
        _grains = grains;
        _options = options;
        _log = log;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The zones in service. Lock-free; replaced as a whole on every change.</summary>
    public ZoneTable Table => Volatile.Read(ref _table);

    /// <summary>Raised (on the store's loop) after a zone got a new serial in service; used for NOTIFY.</summary>
    public event Action<ZoneSnapshot>? Published;

    /// <summary>Completes once the first full listing of the table has been applied.</summary>
    public Task Ready => _ready.Task;

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>The objects held for one zone right now (null if none).</summary>
    public ZoneState? GetState(DnsName zone)
    {
        lock (_lock)
            return _raw.TryGetValue(zone.Key, out var raw) ? raw.ToState(Table.Get(zone)?.Snapshot) : null;
    }

    public IReadOnlyList<DnsName> ZoneNames()
    {
        lock (_lock) return _raw.Values.Where(z => z.SoaCount > 0).Select(z => z.Origin).ToList();
    }

    /// <summary>Zones (with an SOA) whose content has matched no serial for longer than <paramref name="grace"/>, or
    /// whose markers conflict (equal serials, different digests): the ones a master's keeper re-commits.</summary>
    public IReadOnlyList<DnsName> ZonesNeedingRepair(TimeSpan grace)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
            return _raw.Values
                .Where(z => z.SoaCount > 0 && (z.PendingSince is { } p && now - p >= grace || z.HasConflictingMarkers()))
                .Select(z => z.Origin).ToList();
    }

    /// <summary>Waits until <paramref name="zone"/> serves <paramref name="serial"/> or a later one; false on timeout.</summary>
    public async Task<bool> WaitForSerialAsync(DnsName zone, uint serial, TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = _time.GetUtcNow() + timeout;
        while (true)
        {
            Task changed;
            lock (_lock) changed = _changed.Task;
            var s = Table.Get(zone)?.Snapshot;
            if (s is not null && (s.Serial == serial || SerialNumber.Greater(s.Serial, serial))) return true;
            var left = deadline - _time.GetUtcNow();
            if (left <= TimeSpan.Zero) return false;
            try
            {
                await changed.WaitAsync(left, _time, ct);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    private async Task RunAsync(CancellationToken ct)
    {
        int failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await FollowAsync(ct);
                DnsLog.SubscriptionEnded(_log, _options.Table, "the event stream ended");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                DnsLog.SubscriptionEnded(_log, _options.Table, e.Message);
            }
            var delay = TimeSpan.FromMilliseconds(Math.Min(5000, 100 * (1 << Math.Min(failures++, 6))));
            try
            {
                await Task.Delay(delay, _time, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task FollowAsync(CancellationToken outer)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        var ct = cts.Token;
        var table = _grains.GetTable(_options.Table);
        var events = table.Subscribe(new EventSubscription(_options.Table), ct).GetAsyncEnumerator(ct);
        // The in-process engine registers the subscription inside this first call: listing after it loses nothing.
        Task<bool> next = events.MoveNextAsync().AsTask();
        Task checkTask = Task.CompletedTask;
        try
        {
            var listed = new List<(string Hash, JsonElement Value)>();
            await foreach (var o in table.ListObjects(ct)) listed.Add((o.Hash, o.Value));
            lock (_lock)
            {
                _raw.Clear();
                _zoneOfHash.Clear();
                _allHashes.Clear();
                foreach (var (h, v) in listed) ApplyAdd(h, v);
                foreach (var z in _raw.Values) z.Dirty = true;
            }
            PublishDirty();
            DnsLog.TableListed(_log, _options.Table, listed.Count, Table.Count);
            _ready.TrySetResult();

            checkTask = CountCheckAsync(table, cts);
            int sincePublish = 0;
            while (true)
            {
                if (!next.IsCompleted || sincePublish >= 1000)
                {
                    PublishDirty();
                    sincePublish = 0;
                }
                if (!await next) return;
                var e = events.Current;
                switch (e.Type)
                {
                    case DtEventTypes.ObjectAdded when e.Hash is not null && e.Value is { } v:
                        lock (_lock) ApplyAdd(e.Hash, v);
                        break;
                    case DtEventTypes.ObjectRemoved when e.Hash is not null:
                        lock (_lock) ApplyRemove(e.Hash);
                        break;
                    case DtEventTypes.Error when e.Table == _options.Table && e.Origin == "events":
                        throw new InvalidOperationException($"events were lost ({e.Error}); re-listing the table");
                }
                sincePublish++;
                next = events.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            await cts.CancelAsync();
            try { await next; } catch (Exception) { /* cancelled with the subscription */ }
            try { await checkTask; } catch (OperationCanceledException) { }
            await events.DisposeAsync();
        }
    }

    /// <summary>Re-lists the table if its object count differs from the count followed here two checks in a row.</summary>
    private async Task CountCheckAsync(ITableGrain table, CancellationTokenSource follow)
    {
        using var timer = new PeriodicTimer(_options.ResyncCheckInterval, _time);
        int strikes = 0;
        while (await timer.WaitForNextTickAsync(follow.Token))
        {
            try
            {
                var summary = await table.GetSummary();
                int held;
                lock (_lock) held = _allHashes.Count;
                strikes = summary.Count == held ? 0 : strikes + 1;
                if (strikes >= 2)
                {
                    DnsLog.CountMismatch(_log, _options.Table, summary.Count, held);
                    await follow.CancelAsync();
                    return;
                }
            }
            catch (DtException)
            {
                // The node is unavailable for a moment: the next check tries again.
            }
        }
    }

    private void ApplyAdd(string hash, JsonElement value)
    {
        if (!_allHashes.Add(hash)) return;
        var o = DnsObjects.TryParse(value, out var invalid);
        if (o is null)
        {
            if (invalid is not null) DnsLog.InvalidObject(_log, hash, invalid);
            return;
        }
        if (!_raw.TryGetValue(o.Zone.Key, out var zone)) _raw[o.Zone.Key] = zone = new RawZone(o.Zone);
        zone.Add(hash, o);
        _zoneOfHash[hash] = o.Zone.Key;
    }

    private void ApplyRemove(string hash)
    {
        _allHashes.Remove(hash);
        if (!_zoneOfHash.Remove(hash, out var key)) return;
        if (_raw.TryGetValue(key, out var zone)) zone.Remove(hash);
    }

    /// <summary>Re-checks every zone touched since the last call and publishes the ones that reached a new serial.</summary>
    private void PublishDirty()
    {
        List<ZoneSnapshot>? published = null;
        lock (_lock)
        {
            var current = Table;
            Dictionary<string, ZoneEntry>? next = null;
            var now = _time.GetUtcNow();
            foreach (var (key, raw) in _raw.ToList())
            {
                if (!raw.Dirty) continue;
                raw.Dirty = false;
                var entry = current.Get(raw.Origin);
                if (raw.IsEmpty)
                {
                    _raw.Remove(key);
                    if (entry is not null)
                    {
                        (next ??= current.CopyEntries()).Remove(key);
                        DnsLog.ZoneRemoved(_log, raw.Origin.ToString());
                    }
                    continue;
                }
                var served = entry?.Snapshot;
                string digest = raw.Digest.Value;
                var best = raw.SoaCount > 0 ? raw.MatchingMarker() : null;
                if (best is not null && (served is null || SerialNumber.Greater(best.Serial, served.Serial)))
                {
                    var snapshot = ZoneSnapshot.Build(raw.Origin, best.Serial, digest, raw.DistinctRecords());
                    var journal = entry?.Journal ?? [];
                    if (served is not null)
                    {
                        var diff = ZoneDiff.Between(served, snapshot);
                        journal = Trim([.. journal, diff]);
                    }
                    (next ??= current.CopyEntries())[key] = new ZoneEntry(raw.Origin, snapshot, journal);
                    (published ??= []).Add(snapshot);
                    raw.PendingSince = null;
                    DnsLog.ZonePublished(_log, raw.Origin.ToString(), snapshot.Serial, snapshot.Records.Length, digest);
                }
                else if (served is null || served.Digest != digest)
                {
                    raw.PendingSince ??= now;
                    if (entry is null && raw.SoaCount > 0)
                        (next ??= current.CopyEntries())[key] = new ZoneEntry(raw.Origin, null, []);
                }
                else
                {
                    raw.PendingSince = null;
                }
            }
            if (next is not null)
            {
                Volatile.Write(ref _table, new ZoneTable(next));
                var done = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                done.TrySetResult();
            }
        }
        if (published is null) return;
        foreach (var s in published)
        {
            try
            {
                Published?.Invoke(s);
            }
            catch (Exception e)
            {
                DnsLog.HandlerFailed(_log, "zone published", e.Message);
            }
        }
    }

    private List<ZoneDiff> Trim(List<ZoneDiff> journal)
    {
        while (journal.Count > _options.IxfrJournalSize) journal.RemoveAt(0);
        long records = journal.Sum(d => (long)d.Added.Count + d.Removed.Count);
        while (journal.Count > 0 && records > _options.IxfrJournalMaxRecords)
        {
            records -= journal[0].Added.Count + journal[0].Removed.Count;
            journal.RemoveAt(0);
        }
        return journal;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try { await _loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
