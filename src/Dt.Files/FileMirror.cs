using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dt.Files;

/// <summary>
/// Keeps a local directory equal to a file set as one node holds it. A pass lists the set's manifests, writes every
/// file that is missing or differs (into <c>.dt-files/tmp</c>, every chunk checked, the whole file checked, mode and
/// modification time set, flushed to disk, then renamed into place: a file under its final name is always complete),
/// then deletes the files it wrote that the set no longer holds. A file whose content is already in the mirror under
/// another name (a rename) is copied locally. Paths that would leave the directory are refused and logged.
/// <see cref="FollowAsync"/> repeats passes whenever the set changes, and after a restart it catches up in one pass.
/// </summary>
public sealed class FileMirror
{
    private readonly IDtGrainFactory _dt;
    private readonly string _set;
    private readonly MirrorOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly MirrorPaths _paths;
    private readonly HashSet<string> _refusedLogged = new(StringComparer.Ordinal);

    public FileMirror(IDtGrainFactory dt, string set, string directory, MirrorOptions? options = null, ILogger? log = null, TimeProvider? time = null)
    {
        FileSetNames.Require(set);
        _dt = dt;
        _set = set;
        _options = options ?? new MirrorOptions();
        if (_options.ParallelFetches is < 1 or > 64) throw new FileSyncException("parallel fetches must be between 1 and 64");
        if (_options.ParallelFiles is < 1 or > 64) throw new FileSyncException("parallel files must be between 1 and 64");
        if (_options.MaxBytesPerSecond is <= 0) throw new FileSyncException("the rate limit must be positive");
        _log = log ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _paths = new MirrorPaths(directory);
    }

    public string Directory => _paths.Root;

    /// <summary>One pass. Throws (<see cref="DtException"/>) only when the set cannot be read at all; files that could
    /// not be written are counted in <see cref="MirrorPassResult.Failed"/> and the next pass tries them again.</summary>
    public async Task<MirrorPassResult> SyncOnceAsync(IProgress<MirrorProgress>? progress = null, CancellationToken ct = default)
    {
        string root = _paths.Root;
        System.IO.Directory.CreateDirectory(MirrorLayout.TempDirectory(root));
        foreach (var leftover in System.IO.Directory.EnumerateFiles(MirrorLayout.TempDirectory(root))) File.Delete(leftover); // a pass cut short
        var state = MirrorState.Load(root, _set);
        var snapshot = await FileSetSnapshot.LoadAsync(_dt, _set, ct);
        var fetcher = new ChunkFetcher(_dt, _set);
        var pacer = _options.MaxBytesPerSecond is { } rate ? new BytePacer(rate, _time) : null;
        var errors = new List<string>();
        int refused = 0, failed = 0, unchanged = 0, written = 0, deleted = 0;
        foreach (var r in snapshot.Refused)
        {
            refused++;
            if (_refusedLogged.Add(r.ObjectHash)) FilesLog.ManifestRefused(_log, _set, r.ObjectHash, r.Reason);
            errors.Add($"manifest {r.ObjectHash} refused: {r.Reason}");
        }

        var toWrite = new List<FileSetEntry>();
        foreach (var (path, entry) in snapshot.Files)
        {
            if (state.Files.TryGetValue(path, out var had) && had.Manifest == entry.ObjectHash && IsIntact(path, had)) unchanged++;
            else toWrite.Add(entry);
        }
        var toDelete = state.Files.Keys.Where(p => !snapshot.Files.ContainsKey(p)).ToList();
        var lastSave = _time.GetTimestamp();
        var retry = new List<FileSetEntry>();
        int done = 0;
        var gate = new object();
        for (int attempt = 0; attempt < 2; attempt++)
        {
            var batch = attempt == 0 ? toWrite : retry.ToList();
            retry.Clear();
            await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = _options.ParallelFiles, CancellationToken = ct }, async (entry, token) =>
            {
                try
                {
                    var file = await WriteAsync(entry, state, gate, fetcher, pacer, (n, total) => progress?.Report(new MirrorProgress(entry.Manifest.Path, n, total, Volatile.Read(ref done), toWrite.Count, fetcher.BytesFetched)), token);
                    lock (gate)
                    {
                        state.Files[entry.Manifest.Path] = file;
                        written++;
                    }
                }
                catch (Exception e) when (e is FileSyncException or IOException or UnauthorizedAccessException or DtException)
                {
                    lock (gate)
                    {
                        if (attempt == 0) retry.Add(entry);
                        else
                        {
                            failed++;
                            errors.Add($"{entry.Manifest.Path}: {e.Message}");
                            FilesLog.FileFailed(_log, _set, entry.Manifest.Path, e.Message);
                        }
                    }
                }
                Interlocked.Increment(ref done);
                lock (gate)
                {
                    if (_time.GetElapsedTime(lastSave) > TimeSpan.FromSeconds(1))
                    {
                        state.Save(root);
                        lastSave = _time.GetTimestamp();
                    }
                }
            });
            if (attempt == 0)
            {
                // Deletions after the writes (a renamed file's old copy serves as the source of the new one), and
                // before the retry (a path that was a file may now be a directory).
                foreach (var path in toDelete)
                {
                    if (Delete(path)) deleted++;
                    state.Files.Remove(path);
                }
                if (retry.Count == 0) break;
            }
        }
        state.Save(root);
        var result = new MirrorPassResult(snapshot.Files.Count, written, deleted, unchanged, failed, refused, fetcher.BytesFetched, errors);
        FilesLog.PassDone(_log, _set, root, written, deleted, unchanged, failed, refused, fetcher.BytesFetched);
        return result;
    }

    /// <summary>
    /// Passes until cancelled: one now, then one whenever the manifest table changes (heard through a subscription
    /// that first replays the table, so nothing changed before it started is missed), at least every
    /// <see cref="MirrorOptions.RecheckInterval"/>, and sooner after a pass that left files undone.
    /// </summary>
    public async Task FollowAsync(Action<MirrorPassResult>? onPass = null, IProgress<MirrorProgress>? progress = null, CancellationToken ct = default)
    {
        var changed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var follower = Task.Run(() => ListenAsync(changed.Writer, stop.Token), CancellationToken.None);
        var retryDelay = TimeSpan.FromMilliseconds(100);
        try
        {
            while (true)
            {
                TimeSpan wait = _options.RecheckInterval;
                try
                {
                    while (changed.Reader.TryRead(out _)) { }
                    var result = await SyncOnceAsync(progress, ct);
                    onPass?.Invoke(result);
                    if (!result.Complete)
                    {
                        wait = retryDelay;
                        retryDelay = Min(retryDelay * 2, _options.RetryMaxDelay);
                    }
                    else retryDelay = TimeSpan.FromMilliseconds(100);
                }
                catch (Exception e) when (e is DtException or IOException or HttpRequestException && !ct.IsCancellationRequested)
                {
                    FilesLog.PassFailed(_log, _set, e.Message);
                    wait = retryDelay;
                    retryDelay = Min(retryDelay * 2, _options.RetryMaxDelay);
                }
                try { await changed.Reader.WaitToReadAsync(ct).AsTask().WaitAsync(wait, _time, ct); }
                catch (TimeoutException) { }
            }
        }
        finally
        {
            await stop.CancelAsync();
            try { await follower; } catch (OperationCanceledException) { }
        }
    }

    /// <summary>Rebuilds <paramref name="directory"/> from the set as the node holds it, in one pass, and removes the
    /// mirror's own <c>.dt-files</c> directory afterwards: the backup half. Throws if any file could not be restored.</summary>
    public static async Task<MirrorPassResult> RestoreAsync(IDtGrainFactory dt, string set, string directory, MirrorOptions? options = null,
        IProgress<MirrorProgress>? progress = null, ILogger? log = null, CancellationToken ct = default)
    {
        var mirror = new FileMirror(dt, set, directory, options, log);
        var result = await mirror.SyncOnceAsync(progress, ct);
        if (!result.Complete)
            throw new FileSyncException($"{result.Failed} of {result.Files} files could not be restored; first: {result.Errors.FirstOrDefault(e => !e.StartsWith("manifest ", StringComparison.Ordinal))}");
        System.IO.Directory.Delete(MirrorLayout.StateDirectory(mirror.Directory), recursive: true);
        return result;
    }

    private async Task ListenAsync(ChannelWriter<bool> changed, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        var table = _dt.GetTable(FileSetNames.ManifestTable(_set));
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await foreach (var _ in table.Subscribe(new EventSubscription(IncludeExisting: true), ct))
                {
                    changed.TryWrite(true);
                    delay = TimeSpan.FromMilliseconds(100);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DtException or IOException or HttpRequestException)
            {
                FilesLog.FollowBroken(_log, _set, e.Message);
            }
            changed.TryWrite(true); // re-read: something may have changed while not subscribed
            try { await Task.Delay(delay, _time, ct); } catch (OperationCanceledException) { return; }
            delay = Min(delay * 2, _options.RetryMaxDelay);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Whether the file the mirror wrote is still there as it left it (size and modification time).</summary>
    private bool IsIntact(string path, MirroredFile had)
    {
        string full;
        try { full = _paths.Resolve(path, createDirectories: false); }
        catch (FileSyncException) { return false; }
        var info = new FileInfo(full);
        return info.Exists && info.Length == had.Size && SourceTree.MicrosOf(info.LastWriteTimeUtc) == had.ModifiedMicros;
    }

    private async Task<MirroredFile> WriteAsync(FileSetEntry entry, MirrorState state, object gate, ChunkFetcher fetcher, BytePacer? pacer,
        Action<long, long> onBytes, CancellationToken ct)
    {
        var m = entry.Manifest;
        string full = _paths.Resolve(m.Path, createDirectories: true);
        m = await ChunkLists.ResolveAsync(_dt, _set, m, ct);
        var done = new MirroredFile(entry.ObjectHash, m.Size, m.ModifiedMicros, m.Mode, m.Sha256);
        // Already right (a lost state file, a file restored by hand): set what differs and keep it.
        var existing = new FileInfo(full);
        if (existing.Exists && existing.Length == m.Size && await Sha256Async(full, ct) == m.Sha256)
        {
            ApplyMetadata(full, m);
            return done;
        }
        string temp = Path.Combine(MirrorLayout.TempDirectory(_paths.Root), $"{Guid.NewGuid():N}.part");
        try
        {
            using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                string? source;
                lock (gate) source = LocalCopySource(state, m);
                if (source is not null)
                    await CopyAsync(source, output, whole, onBytes, m.Size, ct);
                else
                    await FetchAsync(m, output, whole, fetcher, pacer, onBytes, ct);
                await output.FlushAsync(ct);
                output.Flush(flushToDisk: true);
            }
            string sha = Convert.ToHexStringLower(whole.GetHashAndReset());
            if (sha != m.Sha256) throw new FileSyncException($"the file's SHA-256 is {sha}, the manifest says {m.Sha256}");
            ApplyMetadata(temp, m);
            // Resolved again just before the rename: a directory swapped for a link meanwhile is refused.
            File.Move(temp, _paths.Resolve(m.Path, createDirectories: true), overwrite: true);
            return done;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static void ApplyMetadata(string path, FileManifest m)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)m.Mode);
        File.SetLastWriteTimeUtc(path, m.Modified.UtcDateTime);
    }

    /// <summary>A file this mirror wrote that holds the content wanted and is still as written (a rename's old name).</summary>
    private string? LocalCopySource(MirrorState state, FileManifest m)
    {
        foreach (var (path, had) in state.Files)
            if (had.Sha256 == m.Sha256 && had.Size == m.Size && path != m.Path && IsIntact(path, had))
                return _paths.Resolve(path, createDirectories: false);
        return null;
    }

    private static async Task CopyAsync(string source, Stream output, IncrementalHash whole, Action<long, long> onBytes, long size, CancellationToken ct)
    {
        await using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var buffer = new byte[1 << 16];
        long total = 0;
        int n;
        while ((n = await input.ReadAsync(buffer, ct)) > 0)
        {
            whole.AppendData(buffer, 0, n);
            await output.WriteAsync(buffer.AsMemory(0, n), ct);
            onBytes(total += n, size);
        }
    }

    /// <summary>Fetches the chunks a few at a time and writes them in order.</summary>
    private async Task FetchAsync(FileManifest m, Stream output, IncrementalHash whole, ChunkFetcher fetcher, BytePacer? pacer, Action<long, long> onBytes, CancellationToken ct)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var window = new Queue<Task<byte[]>>();
        int next = 0;
        long total = 0;
        try
        {
            while (next < m.Chunks.Count || window.Count > 0)
            {
                while (next < m.Chunks.Count && window.Count < _options.ParallelFetches)
                {
                    var chunk = m.Chunks[next++];
                    if (pacer is not null) await pacer.WaitAsync(chunk.Size, ct);
                    window.Enqueue(fetcher.FetchAsync(chunk, cancel.Token));
                }
                var raw = await window.Dequeue();
                whole.AppendData(raw);
                await output.WriteAsync(raw, ct);
                onBytes(total += raw.Length, m.Size);
            }
        }
        finally
        {
            await cancel.CancelAsync();
            foreach (var t in window) try { await t; } catch (Exception) { /* the first failure is the one thrown */ }
        }
    }

    private static async Task<string> Sha256Async(string path, CancellationToken ct)
    {
        await using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(input, ct));
    }

    /// <summary>Deletes a file the mirror wrote, then the directories it leaves empty; false if it was gone already.</summary>
    private bool Delete(string path)
    {
        string full;
        try { full = _paths.Resolve(path, createDirectories: false); }
        catch (FileSyncException) { return false; }
        if (!File.Exists(full)) return false;
        File.Delete(full);
        for (var dir = Path.GetDirectoryName(full); dir is not null && dir.Length > _paths.Root.Length; dir = Path.GetDirectoryName(dir))
        {
            if (System.IO.Directory.EnumerateFileSystemEntries(dir).Any()) break;
            System.IO.Directory.Delete(dir);
        }
        return true;
    }
}
