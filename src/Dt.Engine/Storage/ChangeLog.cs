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
/// One writer task appends in the order changes arrive, commits in groups (one fsync per group), and compacts the
/// log into a new snapshot when it outgrows the data.
/// </summary>
internal sealed class ChangeLog : IChangeJournal, IAsyncDisposable
{
    private const string SnapshotFile = "snapshot.dtl";
    private const string LogFile = "changes.dtl";
    private const int MaxRecordBytes = 64 << 20;

    private readonly string _dir;
    private readonly TableStore _store;
    private readonly ILogger _log;
    private readonly int _maxObjectBytes;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private FileStream _file;
    private long _appended, _durable;
    private readonly Lock _waitLock = new();
    private readonly List<(long Sequence, TaskCompletionSource Done)> _waiters = [];
    private long _snapshotBytes;

    private readonly record struct Pending(string Table, ChangeBatch Batch, Change[] Included, long Sequence);

    private ChangeLog(string dir, TableStore store, int maxObjectBytes, ILogger log)
    {
        _dir = dir;
        _store = store;
        _maxObjectBytes = maxObjectBytes;
        _log = log;
        _file = new FileStream(Path.Combine(dir, LogFile), FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16);
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>The log is compacted once it is larger than this and than twice the snapshot. Lowered by tests.</summary>
    internal static long MinCompactBytes { get; set; } = 64L << 20;

    /// <summary>Bytes of the log file (after the snapshot).</summary>
    public long LogBytes => _file.Length;

    /// <summary>Opens (creating if needed) the store under <paramref name="dir"/>, loading snapshot and log into a new <see cref="TableStore"/>.</summary>
    public static ChangeLog Open(string dir, int maxObjectBytes, ILogger log, out TableStore store)
    {
        Directory.CreateDirectory(dir);
        store = new TableStore();
        long records = 0;
        records += Load(Path.Combine(dir, SnapshotFile), store, maxObjectBytes, log, truncateTail: false, out long snapshotBytes);
        records += Load(Path.Combine(dir, LogFile), store, maxObjectBytes, log, truncateTail: true, out _);
        StorageLog.Loaded(log, dir, records, store.Values.Sum(t => t.LiveCount));
        return new ChangeLog(dir, store, maxObjectBytes, log) { _snapshotBytes = snapshotBytes };
    }

    /// <summary>Records read, CRC-checked and decoded together before they are applied: about 8 MB of log.</summary>
    private const int LoadChunkBytes = 8 << 20;

    private readonly record struct Decoded(string Table, List<(ChangeBatch Batch, List<Change> Included)> Groups, long End, string? Error);

    /// <summary>
    /// Replays one file in order. Reading and CRC checks run on this thread, decoding (with the SHA-256 check of every
    /// object against its signed member) on every core, a chunk of records at a time, while the previous chunk is
    /// applied on another task; the first record that fails ends the replay there, as a torn tail.
    /// </summary>
    private static long Load(string path, TableStore store, int maxObjectBytes, ILogger log, bool truncateTail, out long bytes)
    {
        bytes = 0;
        if (!File.Exists(path)) return 0;
        long records = 0, good = 0;
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        {
            bytes = f.Length;
            var applying = Task.CompletedTask;
            bool stopped = false;
            while (!stopped)
            {
                var (bodies, ends, torn) = ReadChunk(f);
                if (bodies.Count == 0) break;
                var decoded = new Decoded[bodies.Count];
                Parallel.For(0, bodies.Count, i =>
                {
                    try
                    {
                        var r = new WireReader(bodies[i]);
                        var (table, groups) = BatchCodec.Decode(ref r, maxObjectBytes);
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
                applying = Task.Run(() =>
                {
                    foreach (var d in chunk.Span)
                    {
                        var t = store.GetOrAdd(d.Table, n => new TableState(n));
                        foreach (var (_, included) in d.Groups) t.ApplyAll(included);
                    }
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
    /// Reads whole records whose CRC holds, up to about <see cref="LoadChunkBytes"/>; <c>Torn</c> when reading stopped at
    /// a short, oversized or damaged record (the end of what can be trusted).
    /// </summary>
    private static (List<byte[]> Bodies, List<long> Ends, bool Torn) ReadChunk(FileStream f)
    {
        var bodies = new List<byte[]>();
        var ends = new List<long>();
        Span<byte> header = stackalloc byte[8];
        long read = 0;
        while (read < LoadChunkBytes)
        {
            int got = f.ReadAtLeast(header, 8, throwOnEndOfStream: false);
            if (got == 0) return (bodies, ends, false);
            if (got < 8) return (bodies, ends, true);
            int length = BinaryPrimitives.ReadInt32BigEndian(header);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
            if (length <= 0 || length > MaxRecordBytes) return (bodies, ends, true);
            var body = GC.AllocateUninitializedArray<byte>(length);
            if (f.ReadAtLeast(body, length, throwOnEndOfStream: false) < length) return (bodies, ends, true);
            if (Crc32.HashToUInt32(body) != crc) return (bodies, ends, true);
            bodies.Add(body);
            ends.Add(f.Position);
            read += length + 8;
        }
        return (bodies, ends, false);
    }

    /// <summary>Queues changes that won on this node; returns a sequence number to wait on with <see cref="WaitDurableAsync"/>.</summary>
    public long Append(string table, ChangeBatch batch, IReadOnlyList<Change> applied)
    {
        if (applied.Count == 0) return Interlocked.Read(ref _appended);
        long seq = Interlocked.Increment(ref _appended);
        _queue.Writer.TryWrite(new Pending(table, batch, [.. applied], seq));
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
                    AppendRecord(w, record.WrittenSpan);
                    last = p.Sequence;
                }
                await _file.WriteAsync(w.WrittenMemory);
                await _file.FlushAsync();
                _file.Flush(flushToDisk: true);
                Interlocked.Exchange(ref _durable, last);
                Release(last);
                if (_file.Length > Math.Max(MinCompactBytes, 2 * _snapshotBytes)) Compact();
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
    /// Writes every held entry to a new snapshot and starts an empty log. Runs on the writer task, so nothing is
    /// appended meanwhile; changes queued during it go to the new log (replaying one twice is harmless).
    /// </summary>
    private void Compact()
    {
        string tmp = Path.Combine(_dir, SnapshotFile + ".tmp");
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var w = new WireWriter(1 << 20);
            var record = new WireWriter(1 << 16);
            foreach (var t in _store.Values)
            {
                foreach (var g in t.SnapshotGroups())
                {
                    record.Reset();
                    BatchCodec.EncodeGroupsBody(record, t.Name, [g]);
                    AppendRecord(w, record.WrittenSpan);
                    if (w.Length > 4 << 20)
                    {
                        f.Write(w.WrittenSpan);
                        w.Reset();
                    }
                }
            }
            f.Write(w.WrittenSpan);
            f.Flush(flushToDisk: true);
            w.Dispose();
            record.Dispose();
            _snapshotBytes = f.Length;
        }
        File.Move(tmp, Path.Combine(_dir, SnapshotFile), overwrite: true);
        _file.Dispose();
        _file = new FileStream(Path.Combine(_dir, LogFile), FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        _file.Flush(flushToDisk: true);
        StorageLog.Compacted(_log, _dir, _snapshotBytes);
    }

    /// <summary>Writes what is queued, then closes the files.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try { await _writer.WaitAsync(TimeSpan.FromSeconds(30)); } catch (Exception e) { StorageLog.WriteFailed(_log, _dir, e); }
        await _file.DisposeAsync();
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
}
