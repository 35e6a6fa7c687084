using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dt.Files;

/// <summary>
/// Publishes a directory as a file set (on a master): reads what the set holds now, cuts every new or changed file
/// into content-defined chunks, sends only the chunks the set does not hold yet, then adds the new manifests, then
/// removes the manifests of changed and deleted files, then the chunks no manifest names any more. In that order a
/// mirror never sees a manifest before its chunks were sent, and a renamed file costs one manifest, no chunk.
/// One publisher per set at a time.
/// </summary>
public sealed class FilePublisher
{
    private readonly IDtGrainFactory _dt;
    private readonly string _set;
    private readonly PublishOptions _options;
    private readonly ILogger _log;
    private readonly ContentChunker _chunker;

    public FilePublisher(IDtGrainFactory dt, string set, PublishOptions? options = null, ILogger? log = null)
    {
        FileSetNames.Require(set);
        _options = options ?? new PublishOptions();
        if (_options.Validate() is { Count: > 0 } errors) throw new FileSyncException(string.Join("; ", errors));
        _dt = dt;
        _set = set;
        _log = log ?? NullLogger.Instance;
        _chunker = new ContentChunker(_options.AverageChunkBytes, _options.MaxChunkBytes);
    }

    public async Task<PublishResult> PublishAsync(string directory, IProgress<PublishProgress>? progress = null, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        int skipped = 0;
        var files = SourceTree.Scan(directory, (path, why) =>
        {
            skipped++;
            FilesLog.SourceSkipped(_log, path, why);
        });
        var before = await ResolveAsync(await FileSetSnapshot.LoadAsync(_dt, _set, ct), ct);
        var manifests = _dt.GetTable(FileSetNames.ManifestTable(_set));
        var uploader = new ChunkUploader(_dt.GetTable(FileSetNames.ChunkTable(_set)), _options.MaxBatchBytes);

        // Chunks the set holds already, by raw SHA-256: named by a manifest that stays or is replaced.
        var known = new Dictionary<string, ChunkRef>(StringComparer.Ordinal);
        foreach (var e in before.Files.Values.Concat(before.Superseded))
            foreach (var c in e.Manifest.Chunks)
                known.TryAdd(c.Sha256, c);

        long totalBytes = files.Sum(f => f.Size), read = 0, reused = 0;
        var fresh = new List<FileManifest>();
        int unchanged = 0, added = 0, changed = 0, done = 0;
        var buffer = new byte[_options.MaxChunkBytes * 2];
        foreach (var f in files)
        {
            ct.ThrowIfCancellationRequested();
            before.Files.TryGetValue(f.Path, out var old);
            if (old is not null && !_options.Checksum && old.Manifest.Size == f.Size && old.Manifest.ModifiedMicros == f.ModifiedMicros && old.Manifest.Mode == f.Mode)
            {
                unchanged++;
                read += f.Size;
            }
            else
            {
                var m = await ChunkFileAsync(f, old?.Manifest.Version ?? 0, buffer, known, uploader, n =>
                {
                    read += n;
                    progress?.Report(new PublishProgress(done, files.Count, read, totalBytes, uploader.BytesSent, f.Path));
                }, () => reused++, ct);
                if (old is not null && SameFile(old.Manifest, m)) unchanged++;
                else
                {
                    fresh.Add(m);
                    if (old is null) added++; else changed++;
                }
            }
            done++;
            progress?.Report(new PublishProgress(done, files.Count, read, totalBytes, uploader.BytesSent, f.Path));
        }
        await uploader.FlushAsync(ct);

        await AddManifestsAsync(manifests, fresh, ct);

        var present = files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        var replaced = fresh.Select(m => m.Path).ToHashSet(StringComparer.Ordinal);
        var removing = before.Files.Values.Where(e => !present.Contains(e.Manifest.Path) || replaced.Contains(e.Manifest.Path)).Concat(before.Superseded).ToList();
        foreach (var r in before.Refused) FilesLog.RemovingInvalidManifest(_log, _set, r.ObjectHash, r.Reason);
        await ForEachAsync(removing.Select(e => e.ObjectHash).Concat(before.Refused.Select(r => r.ObjectHash)), h => manifests.RemoveObject(h), ct);

        // Chunks still named after this publish stay; the rest of what the removed manifests named goes.
        var kept = new HashSet<string>(StringComparer.Ordinal);
        var removedPaths = removing.Select(e => e.ObjectHash).ToHashSet(StringComparer.Ordinal);
        foreach (var e in before.Files.Values.Where(e => !removedPaths.Contains(e.ObjectHash))) foreach (var h in ObjectsOf(e.Manifest)) kept.Add(h);
        foreach (var m in fresh) foreach (var h in ObjectsOf(m)) kept.Add(h);
        var orphans = removing.SelectMany(e => ObjectsOf(e.Manifest)).Where(h => !kept.Contains(h)).Distinct().ToList();
        var chunkTable = _dt.GetTable(FileSetNames.ChunkTable(_set));
        await ForEachAsync(orphans, h => chunkTable.RemoveObject(h), ct);

        int removed = before.Files.Keys.Count(p => !present.Contains(p));
        var result = new PublishResult(files.Count, added, changed, removed, unchanged, skipped, read, uploader.ChunksSent, uploader.BytesSent, reused, orphans.Count, clock.Elapsed);
        FilesLog.Published(_log, _set, files.Count, added, changed, removed, uploader.BytesSent);
        return result;
    }

    private async Task<FileManifest> ChunkFileAsync(SourceFile f, long oldVersion, byte[] buffer, Dictionary<string, ChunkRef> known,
        ChunkUploader uploader, Action<long> onRead, Action onReused, CancellationToken ct)
    {
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var chunks = new List<ChunkRef>();
        long size = 0;
        FileStream stream;
        try
        {
            stream = new FileStream(f.FullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FileSyncException($"cannot read {f.FullPath}: {e.Message}", e);
        }
        await using (stream)
        {
            int filled = 0;
            bool eof = false;
            while (true)
            {
                while (!eof && filled < buffer.Length)
                {
                    int n = await stream.ReadAsync(buffer.AsMemory(filled), ct);
                    if (n == 0) eof = true;
                    filled += n;
                }
                if (filled == 0) break;
                int start = 0;
                // Cut while a whole largest chunk is buffered (or the file ended), then move the rest to the front.
                while (filled - start > 0 && (eof || filled - start >= _chunker.MaxBytes))
                {
                    var span = buffer.AsSpan(start, filled - start);
                    int cut = _chunker.Cut(span, eof);
                    var raw = span[..cut];
                    whole.AppendData(raw);
                    string sha = Convert.ToHexStringLower(SHA256.HashData(raw));
                    if (known.TryGetValue(sha, out var held) && held.Size == cut)
                    {
                        chunks.Add(held);
                        onReused();
                    }
                    else
                    {
                        var encoded = ChunkCodec.Encode(raw, _options.Compress);
                        known[sha] = encoded.Ref;
                        chunks.Add(encoded.Ref);
                        await uploader.AddAsync(encoded, ct);
                    }
                    start += cut;
                    size += cut;
                    onRead(cut);
                }
                Buffer.BlockCopy(buffer, start, buffer, 0, filled - start);
                filled -= start;
                if (eof && filled == 0) break;
            }
        }
        long version = Math.Max(SourceTree.MicrosOf(DateTime.UtcNow), oldVersion + 1);
        string sha256 = Convert.ToHexStringLower(whole.GetHashAndReset());
        if (chunks.Count <= _options.MaxInlineChunks) return new FileManifest(f.Path, size, f.Mode, f.ModifiedMicros, sha256, version, chunks);
        var (lists, objects) = ChunkLists.Build(chunks, Math.Min(ChunkLists.PerList, _options.MaxInlineChunks));
        if (lists.Count > FileManifest.MaxLists)
            throw new FileSyncException($"{f.Path} needs {chunks.Count} chunks, more than a manifest names ({FileManifest.MaxLists * ChunkLists.PerList}); publish it with a larger --average-chunk");
        foreach (var o in objects) await uploader.AddAsync(o, ct);
        return new FileManifest(f.Path, size, f.Mode, f.ModifiedMicros, sha256, version, chunks, lists);
    }

    /// <summary>Every object of the chunk table a manifest needs: its chunks and its chunk lists.</summary>
    private static IEnumerable<string> ObjectsOf(FileManifest m) =>
        m.Chunks.Select(c => c.ObjectHash).Concat(m.Lists?.Select(l => l.ObjectHash) ?? []);

    /// <summary>The snapshot with the chunks of large files read from their lists (to reuse and to collect them).
    /// A list that cannot be read leaves its file's chunks unknown: resent if needed, never removed.</summary>
    private async Task<FileSetSnapshot> ResolveAsync(FileSetSnapshot s, CancellationToken ct)
    {
        if (!s.Files.Values.Concat(s.Superseded).Any(e => e.Manifest.Lists is not null)) return s;
        async Task<FileSetEntry> One(FileSetEntry e)
        {
            try { return e with { Manifest = await ChunkLists.ResolveAsync(_dt, _set, e.Manifest, ct) }; }
            catch (FileSyncException x)
            {
                FilesLog.ListUnreadable(_log, _set, e.Manifest.Path, x.Message);
                return e with { Manifest = e.Manifest with { Lists = [] } };
            }
        }
        var files = new List<FileSetEntry>();
        foreach (var e in s.Files.Values) files.Add(await One(e));
        var superseded = new List<FileSetEntry>();
        foreach (var e in s.Superseded) superseded.Add(await One(e));
        return s.With(files, superseded);
    }

    private static bool SameFile(FileManifest a, FileManifest b) =>
        a.Path == b.Path && a.Size == b.Size && a.Mode == b.Mode && a.ModifiedMicros == b.ModifiedMicros && a.Sha256 == b.Sha256 && a.Chunks.SequenceEqual(b.Chunks);

    private async Task AddManifestsAsync(ITableGrain table, List<FileManifest> fresh, CancellationToken ct)
    {
        var batch = new List<JsonElement>();
        long bytes = 0;
        foreach (var m in fresh)
        {
            ct.ThrowIfCancellationRequested();
            var json = m.ToJson();
            long n = json.GetRawText().Length;
            if (batch.Count > 0 && bytes + n > _options.MaxBatchBytes)
            {
                await table.AddObjects(batch);
                batch.Clear();
                bytes = 0;
            }
            batch.Add(json);
            bytes += n;
        }
        if (batch.Count > 0) await table.AddObjects(batch);
    }

    private static Task ForEachAsync(IEnumerable<string> hashes, Func<string, Task<bool>> remove, CancellationToken ct) =>
        Parallel.ForEachAsync(hashes, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (h, _) => await remove(h));
}
