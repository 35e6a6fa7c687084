using System.Threading.Channels;
using Dt.Files;
using Microsoft.Extensions.Logging;

namespace Dt.Cdn;

/// <summary>
/// The served file set as this node holds it now: re-read whenever its manifest table changes (heard through a
/// subscription that first replays the table, so no change is missed), so a publish on the master is served here as
/// soon as it replicated, and the replica keeps being served while the master is down.
/// </summary>
internal sealed class ContentIndex(IDtGrainFactory dt, string set, ILogger log, TimeProvider time) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile FileSetSnapshot? _snapshot;
    private Task _loop = Task.CompletedTask;
    private int _refusedReported;

    public Task Loaded => _loaded.Task;

    public FileSetEntry? Find(string path) => _snapshot is { } s && s.Files.TryGetValue(path, out var e) ? e : null;

    public int Count => _snapshot?.Files.Count ?? 0;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task<FileManifest>> _resolved = new(StringComparer.Ordinal);

    /// <summary>The manifest with its chunks (read once from its chunk lists for a large file, then kept while the
    /// manifest is current).</summary>
    public async Task<FileManifest> ChunksOfAsync(FileSetEntry entry, CancellationToken ct)
    {
        if (entry.Manifest.Lists is null) return entry.Manifest;
        var task = _resolved.GetOrAdd(entry.ObjectHash, _ => ChunkLists.ResolveAsync(dt, set, entry.Manifest, CancellationToken.None));
        try { return await task.WaitAsync(ct); }
        catch (FileSyncException)
        {
            _resolved.TryRemove(entry.ObjectHash, out _); // not replicated yet: the next request tries again
            throw;
        }
    }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    private async Task RunAsync(CancellationToken ct)
    {
        var changed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        var listener = Task.Run(() => ListenAsync(changed.Writer, ct), CancellationToken.None);
        var retry = TimeSpan.FromMilliseconds(100);
        try
        {
            changed.Writer.TryWrite(true);
            while (await changed.Reader.WaitToReadAsync(ct))
            {
                changed.Reader.TryRead(out _);
                try
                {
                    var s = await FileSetSnapshot.LoadAsync(dt, set, ct);
                    _snapshot = s;
                    _loaded.TrySetResult();
                    var current = s.Files.Values.Select(e => e.ObjectHash).ToHashSet(StringComparer.Ordinal);
                    foreach (var hash in _resolved.Keys) if (!current.Contains(hash)) _resolved.TryRemove(hash, out _);
                    if (s.Refused.Count != Interlocked.Exchange(ref _refusedReported, s.Refused.Count) && s.Refused.Count > 0) CdnLog.RefusedManifests(log, set, s.Refused.Count);
                    retry = TimeSpan.FromMilliseconds(100);
                }
                catch (Exception e) when (e is DtException or IOException or HttpRequestException)
                {
                    CdnLog.FollowBroken(log, set, e.Message);
                    await Task.Delay(retry, time, ct);
                    retry = retry * 2 > TimeSpan.FromSeconds(5) ? TimeSpan.FromSeconds(5) : retry * 2;
                    changed.Writer.TryWrite(true);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            try { await listener; } catch (OperationCanceledException) { }
        }
    }

    private async Task ListenAsync(ChannelWriter<bool> changed, CancellationToken ct)
    {
        var table = dt.GetTable(FileSetNames.ManifestTable(set));
        var delay = TimeSpan.FromMilliseconds(100);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await foreach (var _ in table.Subscribe(new EventSubscription(IncludeExisting: true), ct)) changed.TryWrite(true);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DtException or IOException or HttpRequestException)
            {
                CdnLog.FollowBroken(log, set, e.Message);
            }
            changed.TryWrite(true);
            try { await Task.Delay(delay, time, ct); } catch (OperationCanceledException) { return; }
            delay = delay * 2 > TimeSpan.FromSeconds(5) ? TimeSpan.FromSeconds(5) : delay * 2;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try { await _loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
