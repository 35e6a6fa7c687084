using System.Buffers.Binary;
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

    private static long Load(string path, TableStore store, int maxObjectBytes, ILogger log, bool truncateTail, out long bytes)
    {
        bytes = 0;
        if (!File.Exists(path)) return 0;
        long records = 0, good = 0;
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        {
            bytes = f.Length;
            var header = new byte[8];
            byte[] body = new byte[1 << 16];
            while (true)
            {
                if (f.ReadAtLeast(header, 8, throwOnEndOfStream: false) < 8) break;
                int length = BinaryPrimitives.ReadInt32BigEndian(header);
                uint crc = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
                if (length <= 0 || length > MaxRecordBytes) break;
                if (body.Length < length) body = new byte[length];
                if (f.ReadAtLeast(body.AsSpan(0, length), length, throwOnEndOfStream: false) < length) break;
                if (Crc32.Compute(body.AsSpan(0, length)) != crc) break;
                try
                {
                    var r = new WireReader(body.AsSpan(0, length));
                    var (table, groups) = BatchCodec.Decode(ref r, maxObjectBytes);
                    var t = store.GetOrAdd(table, n => new TableState(n));
                    foreach (var (_, included) in groups) t.ApplyAll(included);
                }
                catch (ProtocolException e)
                {
                    StorageLog.BadRecord(log, path, f.Position, e.Message);
                    break;
                }
                records++;
                good = f.Position;
            }
        }
        if (good < bytes)
        {
            StorageLog.TornTail(log, path, good, bytes - good);
            if (truncateTail)
                using (var f = new FileStream(path, FileMode.Open, FileAccess.Write)) f.SetLength(good);
        }
        return records;
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
        w.U32(Crc32.Compute(body));
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
