using System.Text.Json;

namespace Dt.Files;

/// <summary>
/// Adds chunk objects in batches of at most <c>maxBatchBytes</c> of JSON (under the silo's body cap), with a couple
/// of batches on their way while the next is being read and hashed. A batch refused as too large is halved; each
/// hash the node returns must be the one computed here (the object hash is known before sending).
/// </summary>
internal sealed class ChunkUploader(ITableGrain table, long maxBatchBytes, int batchesInFlight = 2)
{
    private readonly SemaphoreSlim _slots = new(batchesInFlight);
    private readonly List<Task> _pending = [];
    private List<EncodedChunk> _batch = [];
    private long _batchBytes, _bytesSent, _chunksSent;

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long ChunksSent => Interlocked.Read(ref _chunksSent);

    public async Task AddAsync(EncodedChunk chunk, CancellationToken ct)
    {
        if (_batch.Count > 0 && _batchBytes + chunk.Json.Length > maxBatchBytes) await SendBatchAsync(ct);
        _batch.Add(chunk);
        _batchBytes += chunk.Json.Length;
    }

    /// <summary>Sends what is left and waits for every batch; throws the first failure.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        if (_batch.Count > 0) await SendBatchAsync(ct);
        await Task.WhenAll(_pending);
    }

    private async Task SendBatchAsync(CancellationToken ct)
    {
        // A failed batch stops the publish at the next batch, not only at the end.
        foreach (var done in _pending.Where(t => t.IsCompleted).ToList())
        {
            await done;
            _pending.Remove(done);
        }
        await _slots.WaitAsync(ct);
        var batch = _batch;
        _batch = [];
        _batchBytes = 0;
        _pending.Add(Task.Run(async () =>
        {
            try { await SendAsync(batch); }
            finally { _slots.Release(); }
        }, CancellationToken.None));
    }

    private async Task SendAsync(List<EncodedChunk> batch)
    {
        var docs = batch.Select(c => JsonDocument.Parse(c.Json)).ToList();
        try
        {
            IReadOnlyList<string> hashes;
            try
            {
                hashes = await table.AddObjects(docs.Select(d => d.RootElement).ToList());
            }
            catch (DtException e) when (e.Code == DtErrorCodes.TooLarge && batch.Count > 1)
            {
                int half = batch.Count / 2;
                await SendAsync(batch[..half]);
                await SendAsync(batch[half..]);
                return;
            }
            catch (DtException e) when (e.Code == DtErrorCodes.TooLarge)
            {
                throw new FileSyncException($"a chunk object of {batch[0].Json.Length} bytes is refused as too large ({e.Message}); publish with a smaller --max-chunk", e);
            }
            for (int i = 0; i < batch.Count; i++)
                if (hashes[i] != batch[i].Ref.ObjectHash)
                    throw new FileSyncException($"the node stored chunk {batch[i].Ref.Sha256} as object {hashes[i]}, not {batch[i].Ref.ObjectHash}: it does not hash objects as Dt does");
            Interlocked.Add(ref _bytesSent, batch.Sum(c => (long)c.Json.Length));
            Interlocked.Add(ref _chunksSent, batch.Count);
        }
        finally
        {
            foreach (var d in docs) d.Dispose();
        }
    }
}
