namespace Dt.Files;

/// <summary>Fetches chunk objects from one node's chunk table and decodes them, checking every hash.</summary>
public sealed class ChunkFetcher(IDtGrainFactory dt, string set)
{
    private readonly ITableGrain _table = dt.GetTable(FileSetNames.ChunkTable(set));
    private long _bytesFetched;

    /// <summary>Encoded bytes fetched so far (what crossed from the node).</summary>
    public long BytesFetched => Interlocked.Read(ref _bytesFetched);

    /// <summary>The chunk's raw bytes; <see cref="FileSyncException"/> if the node does not hold it (yet) or it does not check.</summary>
    public async Task<byte[]> FetchAsync(ChunkRef chunk, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var record = await _table.GetObject(chunk.ObjectHash)
                     ?? throw new FileSyncException($"chunk {chunk.ObjectHash} is not on this node (yet): its replica of the file set is still catching up, or the file changed meanwhile");
        var raw = new byte[chunk.Size];
        try
        {
            Interlocked.Add(ref _bytesFetched, ChunkCodec.Decode(record.Value, chunk, raw));
        }
        catch (InvalidDataException e)
        {
            throw new FileSyncException(e.Message, e);
        }
        return raw;
    }
}
