using System.Buffers.Binary;
using System.IO.Hashing;
using System.Threading.Channels;
using Dt.Protocol;
using Dt.Replication;
using Microsoft.Extensions.Logging;

namespace Dt.Storage;

/// <summary>
/// Durable tables as an append-only log plus a snapshot, both made of records
/// <c>[u32 length][u32 CRC-32][Changes message body]</c> — the same signed batch groups that travel between nodes.
/// Why a log and not SQLite: every write is sequential, a bulk sync of a million objects is a few large writes,
/// records are already verifiable (signed batches), and replaying a record twice is harmless because changes are
/// applied by last-writer-wins. A torn tail (e.g. after <c>kill -9</c>) fails its CRC and is cut off on load.
/// One writer task appends in the order changes arrive and commits in groups (one fsync per group).
/// <para>
/// Files come in generations: the log of generation g, and the snapshot of generation g, which holds everything the
/// logs before g held. A node loads the newest snapshot, then every log from its generation on. When the current log
/// outgrows the data, the writer starts the next generation's log and goes on appending while a background task
/// writes that generation's snapshot from the tables in memory (which hold everything the older logs do). Renaming
/// the finished snapshot into place is the commit: only then are the older logs and snapshot deleted, and a crash
/// at any point leaves a snapshot with every log it does not cover. Writes are never held up by a compaction, and a
/// log older than the snapshot is never replayed over it (which could bring back an object whose removal the
/// snapshot no longer records).
/// </para>
/// </summary>
internal sealed class ChangeLog : IChangeJournal, IAsyncDisposable
{
    private const int MaxRecordBytes = 64 << 20;

    private readonly string _dir;
    private readonly TableStore _store;
    private readonly ILogger _log;
    private readonly int _maxObjectBytes;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private FileStream _file;
    private long _generation, _fileBytes;
    private long _appended, _durable;
    private readonly Lock _waitLock = new();
    private readonly List<(long Sequence, TaskCompletionSource Done)> _waiters = [];
    private long _snapshotBytes;
    private Task _compaction = Task.CompletedTask;

    private readonly record struct Pending(string Table, ChangeBatch Batch, Change[] Included, long Sequence, FrameChunks? Chunks);

    private ChangeLog(string dir, TableStore store, int maxObjectBytes, ILogger log, long generation, long snapshotBytes)
    {
        _dir = dir;
        _store = store;
        _maxObjectBytes = maxObjectBytes;
        _log = log;
        _generation = generation;
        _snapshotBytes = snapshotBytes;
        _file = new FileStream(Path.Combine(dir, LogName(generation)), FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16);
        _fileBytes = _file.Length;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>The log is compacted once it is larger than this and than twice the snapshot. Lowered by tests.</summary>
    internal static long MinCompactBytes { get; set; } = 64L << 20;

    /// <summary>Bytes of the current log file (after the snapshot).</summary>
    public long LogBytes => Interlocked.Read(ref _fileBytes);

    /// <summary>The log of generation <paramref name="generation"/> (generation 0 keeps the name of the files before generations).</summary>
    internal static string LogName(long generation) => generation == 0 ? "changes.dtl" : $"changes-{generation}.dtl";

    internal static string SnapshotName(long generation) => generation == 0 ? "snapshot.dtl" : $"snapshot-{generation}.dtl";

    /// <summary>The logs and snapshots in <paramref name="dir"/> by generation (leftover <c>.tmp</c> files are not listed).</summary>
    internal static (SortedDictionary<long, string> Logs, SortedDictionary<long, string> Snapshots) Files(string dir)
    {
        var logs = new SortedDictionary<long, string>();
        var snapshots = new SortedDictionary<long, string>();
        foreach (var path in Directory.EnumerateFiles(dir, "*.dtl"))
        {
            string name = Path.GetFileName(path);
            if (Generation(name, "changes") is long g) logs[g] = path;
            else if (Generation(name, "snapshot") is long s) snapshots[s] = path;
        }
        return (logs, snapshots);
    }

    private static long? Generation(string name, string kind)
    {
        if (name == kind + ".dtl") return 0;
        if (!name.StartsWith(kind + "-", StringComparison.Ordinal)) return null;
        return long.TryParse(name.AsSpan(kind.Length + 1, name.Length - kind.Length - 1 - ".dtl".Length), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out long g) && g > 0 ? g : null;
    }

    /// <summary>
    /// Opens (creating if needed) the store under <paramref name="dir"/>, loading snapshot and logs into a new
    /// <see cref="TableStore"/>. <paramref name="checkSignature"/>, if given, is called on the decoding cores for each
    /// batch a record carries, with its table: the node's signature check, so that it is done while the replay waits on
    /// the apply rather than after it. It only marks what it finds good; the node forgets what is not at start.
    /// </summary>
    public static ChangeLog Open(string dir, int maxObjectBytes, ILogger log, Action<string, ChangeBatch>? checkSignature, out TableStore store)
    {
        Directory.CreateDirectory(dir);
        foreach (var tmp in Directory.EnumerateFiles(dir, "*.dtl.tmp")) File.Delete(tmp); // a compaction that did not finish
        store = new TableStore();
        var (logs, snapshots) = Files(dir);
        long snapshotGeneration = snapshots.Count > 0 ? snapshots.Keys.Max() : 0;
        long records = 0, snapshotBytes = 0;
        var replay = new ReplayProgress(snapshots.Where(s => s.Key == snapshotGeneration).Concat(logs.Where(l => l.Key >= snapshotGeneration))
            .Sum(f => new FileInfo(f.Value).Length));
        if (snapshots.TryGetValue(snapshotGeneration, out var snapshot))
            records += Load(snapshot, store, maxObjectBytes, log, truncateTail: false, replay, checkSignature, out snapshotBytes);
        long current = snapshotGeneration;
        foreach (var (g, path) in logs)
        {
            if (g < snapshotGeneration) continue;
            records += Load(path, store, maxObjectBytes, log, truncateTail: true, replay, checkSignature, out _);
            current = g;
        }
        // Files the newest snapshot covers, left by a crash between its commit and their deletion.
        DeleteOlderThan(logs, snapshots, snapshotGeneration);
        StorageLog.Loaded(log, dir, records, store.Values.Sum(t => t.LiveCount));
        return new ChangeLog(dir, store, maxObjectBytes, log, current, snapshotBytes);
    }

    private static void DeleteOlderThan(SortedDictionary<long, string> logs, SortedDictionary<long, string> snapshots, long generation)
    {
        foreach (var (g, path) in logs)
            if (g < generation) File.Delete(path);
        foreach (var (g, path) in snapshots)
            if (g < generation) File.Delete(path);
    }

    /// <summary>Records read, CRC-checked and decoded together before they are applied: about 8 MB of log. Lowered by tests.</summary>
    internal static int LoadChunkBytes { get; set; } = 8 << 20;

    private readonly record struct Decoded(string Table, List<(ChangeBatch Batch, List<Change> Included)> Groups, long End, string? Error);

    /// <summary>
    /// Replays one file in order. Reading and CRC checks run on this thread, decoding (with the SHA-256 check of every
    /// object against its signed member, and the batches' signature checks) on every core, a chunk of records at a time, while the previous chunk is
    /// applied on another task; the first record that fails ends the replay there, as a torn tail.
    /// <para>
    /// Records are read into two chunk buffers in turn, and decoded changes go into lists that the apply gives back:
    /// a replay touches a few megabytes of fresh memory besides what the table keeps, instead of the file's size
    /// twice over. Fresh memory is what a replay waited on where page faults are dear (12 µs each on a virtual
    /// machine measured here: 300 ms for the records of a million objects).
    /// </para>
    /// </summary>
    private static long Load(string path, TableStore store, int maxObjectBytes, ILogger log, bool truncateTail, ReplayProgress replay,
        Action<string, ChangeBatch>? checkSignature, out long bytes)
    {
        bytes = 0;
        if (!File.Exists(path)) return 0;
        long records = 0, good = 0;
        var lists = new ChangeListPool();
        var buffers = new ChunkBuffers();
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
        {
            bytes = f.Length;
            var applying = Task.CompletedTask;
            bool stopped = false;
            while (!stopped)
            {
                // The buffer two chunks back is free: its chunk's apply was waited for before the last one started.
                var (bodies, ends, torn) = ReadChunk(f, buffers.Next());
                if (bodies.Count == 0) break;
                var decoded = new Decoded[bodies.Count];
                Parallel.For(0, bodies.Count, i =>
                {
                    try
                    {
                        var r = new WireReader(bodies[i].Span);
                        var (table, groups) = BatchCodec.Decode(ref r, maxObjectBytes, lists: lists, owned: bodies[i]);
                        if (checkSignature is not null)
                            foreach (var (batch, _) in groups) checkSignature(table, batch);
                        decoded[i] = new Decoded(table, groups, ends[i], null);
                    }
                    catch (ProtocolException e) { decoded[i] = new Decoded("", [], ends[i], e.Message); }
                });
                int ok = Array.FindIndex(decoded, d => d.Error is not null);
                if (ok >= 0)
                {
                    StorageLog.BadRecord(log, path, ok == 0 ? good : decoded[ok - 1].End, decoded[ok].Error!);
                    stopped = true;
                }
                else ok = decoded.Length;
                applying.Wait();
                var chunk = decoded.AsMemory(0, ok);
                long chunkBytes = bodies.Sum(b => (long)b.Length + 8);
                applying = Task.Run(() =>
                {
                    foreach (var d in chunk.Span)
                    {
                        var t = store.GetOrAdd(d.Table, n => new TableState(n));
                        foreach (var (_, included) in d.Groups)
                        {
                            t.ApplyAll(included); // copies the JSON into the table's slab: the chunk buffer may go
                            lists.Return(included);
                        }
                    }
                    replay.Applied(chunkBytes, store);
                });
                records += ok;
                if (ok > 0) good = decoded[ok - 1].End;
                stopped |= torn;
            }
            applying.Wait();
        }
        if (good < bytes)
        {
            StorageLog.TornTail(log, path, good, bytes - good);
            if (truncateTail)
                using (var f = new FileStream(path, FileMode.Open, FileAccess.Write)) f.SetLength(good);
        }
        return records;
    }

    /// <summary>
    /// How far a node's replay is through its files, to size each table's index once for what the rest projects: an
    /// index that doubles its way to a million entries copies and rehashes two million, and touches twice the memory.
    /// The projection (entries so far, scaled by bytes to go) is made once a sixteenth of the files is in, and only for
    /// a store of one table: how the bytes to come divide among several is not known. A wrong one costs only growth
    /// later, or room that a quiet table's trim gives back.
    /// </summary>
    private sealed class ReplayProgress(long totalBytes)
    {
        private long _applied;
        private bool _projected;

        public void Applied(long bytes, TableStore store)
        {
            _applied += bytes;
            if (_projected || _applied * 16 < totalBytes) return;
            _projected = true;
            if (store.Count == 1)
                foreach (var t in store.Values) t.Reserve((int)Math.Min(int.MaxValue, (double)t.EntryCount * totalBytes / _applied * 9 / 8));
        }
    }

    /// <summary>The two buffers a replay reads its chunks into, in turn; one grows when a record does not fit it.</summary>
    private sealed class ChunkBuffers
    {
        private readonly byte[][] _buffers = [[], []];
        private int _next;

        public ChunkBuffer Next() => new(_buffers, _next++ & 1);
    }

    /// <summary>One of <see cref="ChunkBuffers"/>: records are laid one after another into it.</summary>
    private readonly struct ChunkBuffer(byte[][] buffers, int which)
    {
        public byte[] Array => buffers[which];

        /// <summary>Makes room for <paramref name="bytes"/> in all, keeping nothing (called before the first record only).</summary>
        public byte[] Reserve(int bytes)
        {
            if (buffers[which].Length < bytes) buffers[which] = GC.AllocateUninitializedArray<byte>(bytes);
            return buffers[which];
        }
    }

    /// <summary>
    /// Reads whole records whose CRC holds into <paramref name="buffer"/>, up to about <see cref="LoadChunkBytes"/>;
    /// <c>Torn</c> when reading stopped at a short, oversized or damaged record (the end of what can be trusted).
    /// A record that does not fit after the first is left for the next chunk.
    /// </summary>
    private static (List<ReadOnlyMemory<byte>> Bodies, List<long> Ends, bool Torn) ReadChunk(FileStream f, ChunkBuffer buffer)
    {
        var bodies = new List<ReadOnlyMemory<byte>>();
        var ends = new List<long>();
        Span<byte> header = stackalloc byte[8];
        byte[] into = buffer.Array;
        int used = 0;
        while (used < LoadChunkBytes)
        {
            int got = f.ReadAtLeast(header, 8, throwOnEndOfStream: false);
            if (got == 0) return (bodies, ends, false);
            if (got < 8) return (bodies, ends, true);
            int length = BinaryPrimitives.ReadInt32BigEndian(header);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
            if (length <= 0 || length > MaxRecordBytes) return (bodies, ends, true);
            if (into.Length - used < length)
            {
                if (used > 0)
                {
                    f.Seek(-8, SeekOrigin.Current); // the next chunk starts with this record
                    break;
                }
                into = buffer.Reserve(Math.Max(LoadChunkBytes, length));
            }
            var body = into.AsMemory(used, length);
            if (f.ReadAtLeast(body.Span, length, throwOnEndOfStream: false) < length) return (bodies, ends, true);
            if (Crc32.HashToUInt32(body.Span) != crc) return (bodies, ends, true);
            bodies.Add(body);
            ends.Add(f.Position);
            used += length;
        }
        return (bodies, ends, false);
    }

    /// <summary>Queues changes that won on this node; returns a sequence number to wait on with <see cref="WaitDurableAsync"/>.</summary>
    public long Append(string table, ChangeBatch batch, IReadOnlyList<Change> applied, FrameChunks? chunks = null)
    {
        if (applied.Count == 0) return Interlocked.Read(ref _appended);
        long seq = Interlocked.Increment(ref _appended);
        // Held until the write loop has encoded the record; a log that closes first leaves them to the collector.
        _queue.Writer.TryWrite(new Pending(table, batch, [.. applied], seq, chunks?.Hold()));
        return seq;
    }

    /// <summary>Completes once everything appended up to <paramref name="sequence"/> is on disk (fsynced).</summary>
    public Task WaitDurableAsync(long sequence)
    {
        lock (_waitLock)
        {
            if (Interlocked.Read(ref _durable) >= sequence) return Task.CompletedTask;
            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((sequence, tcs));
            return tcs.Task;
        }
    }

    public long LastAppended => Interlocked.Read(ref _appended);

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        var w = new WireWriter(1 << 16);
        var record = new WireWriter(1 << 16);
        try
        {
            while (await reader.WaitToReadAsync())
            {
                long last = 0;
                w.Reset();
                while (w.Length < (8 << 20) && reader.TryRead(out var p))
                {
                    record.Reset();
                    BatchCodec.EncodeGroupsBody(record, p.Table, [(p.Batch, p.Included)]);
                    p.Chunks?.Release();
                    AppendRecord(w, record.WrittenSpan);
                    last = p.Sequence;
                }
                await _file.WriteAsync(w.WrittenMemory);
                await _file.FlushAsync();
                _file.Flush(flushToDisk: true);
                Interlocked.Exchange(ref _fileBytes, _file.Length);
                Interlocked.Exchange(ref _durable, last);
                Release(last);
                if (_compaction.IsCompleted && _file.Length > Math.Max(MinCompactBytes, 2 * Interlocked.Read(ref _snapshotBytes))) StartCompaction();
            }
        }
        catch (Exception e)
        {
            StorageLog.WriteFailed(_log, _dir, e);
            Release(long.MaxValue, e);
        }
        finally
        {
            w.Dispose();
            record.Dispose();
        }
    }

    private static void AppendRecord(WireWriter w, ReadOnlySpan<byte> body)
    {
        w.U32((uint)body.Length);
        w.U32(Crc32.HashToUInt32(body));
        w.Bytes(body);
    }

    private void Release(long upTo, Exception? failure = null)
    {
        lock (_waitLock)
        {
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Sequence > upTo) continue;
                if (failure is null) _waiters[i].Done.TrySetResult();
                else _waiters[i].Done.TrySetException(new DtException(DtErrorCodes.Unavailable, $"writing to {_dir} failed: {failure.Message}", failure));
                _waiters.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// Starts the next generation: appends go to a new log from now on, and a background task writes the snapshot
    /// that replaces every older file. Runs on the writer task, after a commit, so the older logs are complete.
    /// </summary>
    private void StartCompaction()
    {
        long next = _generation + 1;
        var file = new FileStream(Path.Combine(_dir, LogName(next)), FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        file.Flush(flushToDisk: true);
        _file.Dispose();
        _file = file;
        _generation = next;
        Interlocked.Exchange(ref _fileBytes, 0);
        _compaction = Task.Run(() => WriteSnapshot(next));
    }

    /// <summary>
    /// Writes every held entry as the snapshot of <paramref name="generation"/>, then deletes the files it replaces.
    /// The tables already hold everything the older logs do (a change is applied before it is queued for the log), and
    /// the snapshot needs no single moment: every change made while it is written is in the newer log.
    /// A failure is logged and leaves every file in place; the next compaction tries again.
    /// </summary>
    private void WriteSnapshot(long generation)
    {
        string path = Path.Combine(_dir, SnapshotName(generation)), tmp = path + ".tmp";
        try
        {
            long bytes;
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                var w = new WireWriter(1 << 20);
                var record = new WireWriter(1 << 16);
                var current = new List<Change>();
                try
                {
                    // A batch at a time, each under its table's lock for that batch only, so writers never wait long.
                    // An entry that a newer change moves to another batch meanwhile may be missed: that change is in
                    // the new log, which is replayed after this snapshot.
                    foreach (var t in _store.Values)
                        foreach (var batch in t.SnapshotBatches())
                        {
                            current.Clear();
                            t.CurrentOf(batch, current);
                            if (current.Count == 0) continue;
                            record.Reset();
                            BatchCodec.EncodeGroupsBody(record, t.Name, [(batch, current.ToArray())]);
                            AppendRecord(w, record.WrittenSpan);
                            if (w.Length > 4 << 20)
                            {
                                f.Write(w.WrittenSpan);
                                w.Reset();
                            }
                        }
                    f.Write(w.WrittenSpan);
                    f.Flush(flushToDisk: true);
                    bytes = f.Length;
                }
                finally
                {
                    w.Dispose();
                    record.Dispose();
                }
            }
            File.Move(tmp, path, overwrite: true);
            var (logs, snapshots) = Files(_dir);
            DeleteOlderThan(logs, snapshots, generation);
            Interlocked.Exchange(ref _snapshotBytes, bytes);
            StorageLog.Compacted(_log, _dir, bytes);
        }
        catch (Exception e)
        {
            StorageLog.CompactFailed(_log, _dir, e);
            try { File.Delete(tmp); } catch (IOException) { }
        }
    }

    /// <summary>Writes what is queued, then closes the files.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try { await _writer.WaitAsync(TimeSpan.FromSeconds(30)); } catch (Exception e) { StorageLog.WriteFailed(_log, _dir, e); }
        await _file.DisposeAsync();
        // A snapshot being written is finished rather than left as a .tmp file to write again.
        try { await _compaction.WaitAsync(TimeSpan.FromSeconds(60)); } catch (TimeoutException e) { StorageLog.WriteFailed(_log, _dir, e); }
    }
}

internal static partial class StorageLog
{
    [LoggerMessage(100, LogLevel.Information, "Loaded {Records} records from {Dir}: {Objects} objects")]
    public static partial void Loaded(ILogger log, string dir, long records, long objects);

    [LoggerMessage(101, LogLevel.Warning, "Cut a torn or damaged tail off {Path} at byte {Offset} ({Bytes} bytes)")]
    public static partial void TornTail(ILogger log, string path, long offset, long bytes);

    [LoggerMessage(102, LogLevel.Warning, "Bad record in {Path} near byte {Offset}: {Reason}")]
    public static partial void BadRecord(ILogger log, string path, long offset, string reason);

    [LoggerMessage(103, LogLevel.Error, "Writing the change log in {Dir} failed")]
    public static partial void WriteFailed(ILogger log, string dir, Exception e);

    [LoggerMessage(104, LogLevel.Information, "Compacted the change log in {Dir} into a snapshot of {Bytes} bytes")]
    public static partial void Compacted(ILogger log, string dir, long bytes);

    [LoggerMessage(105, LogLevel.Error, "Compacting the change log in {Dir} failed; the logs are kept and the next compaction tries again")]
    public static partial void CompactFailed(ILogger log, string dir, Exception e);
}
