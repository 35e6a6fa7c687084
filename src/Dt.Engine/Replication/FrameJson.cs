namespace Dt.Replication;

/// <summary>
/// Keeps a decoded frame's object JSON in a few 64 KiB chunks instead of one array per object: a million received
/// objects cost some 1,600 short-lived arrays, not a million. Chunks are never reused, so a view stays valid for as
/// long as anyone holds it (a relay queue, a pending apply); a table copies what it keeps into its own slab.
/// </summary>
internal struct FrameJson
{
    /// <summary>Under the large-object heap's threshold, so chunks die young and cheaply.</summary>
    private const int ChunkBytes = 64 << 10;

    private byte[]? _chunk;
    private int _used;

    public ReadOnlyMemory<byte> Keep(ReadOnlySpan<byte> json)
    {
        if (json.Length > ChunkBytes / 4) return json.ToArray();
        if (_chunk is null || ChunkBytes - _used < json.Length)
        {
            _chunk = GC.AllocateUninitializedArray<byte>(ChunkBytes);
            _used = 0;
        }
        json.CopyTo(_chunk.AsSpan(_used));
        var kept = _chunk.AsMemory(_used, json.Length);
        _used += json.Length;
        return kept;
    }
}
