using System.Buffers;
using System.Collections.Concurrent;

namespace Dt.Replication;

/// <summary>
/// Keeps a decoded frame's object JSON in a few 64 KiB chunks instead of one array per object: a million received
/// objects cost some 1,600 chunks, not a million arrays. Without <see cref="FrameChunks"/> the chunks are new arrays,
/// valid for as long as anyone holds a view; with them they are rented and given back once the frame's holders are done.
/// </summary>
internal struct FrameJson(FrameChunks? rentFrom)
{
    /// <summary>Under the large-object heap's threshold, so chunks die young and cheaply when they are not rented.</summary>
    public const int ChunkBytes = 64 << 10;

    private byte[]? _chunk;
    private int _used;

    public ReadOnlyMemory<byte> Keep(ReadOnlySpan<byte> json)
    {
        if (json.Length > ChunkBytes / 4) return json.ToArray();
        if (_chunk is null || ChunkBytes - _used < json.Length)
        {
            _chunk = rentFrom?.Rent() ?? GC.AllocateUninitializedArray<byte>(ChunkBytes);
            _used = 0;
        }
        json.CopyTo(_chunk.AsSpan(_used));
        var kept = _chunk.AsMemory(_used, json.Length);
        _used += json.Length;
        return kept;
    }
}

/// <summary>
/// The chunks one received frame's object JSON was copied into, rented from the shared array pool and given back when
/// the last holder releases them: the link's applier once it applied and relayed the frame's changes, and the change
/// log once it encoded them. Nothing else may keep a received change's JSON: a table copies it into its slab, an event
/// refers to the slab's copy, a relay encodes it into its own frame. So a steady stream of frames reuses the same
/// chunks instead of allocating about 100 bytes per object it carries. A holder that never releases only leaves the
/// chunks to the collector; releasing more often than held throws.
/// </summary>
internal sealed class FrameChunks
{
    private const int MaxKept = 64;
    private static readonly ConcurrentQueue<FrameChunks> s_free = new();

    private readonly List<byte[]> _rented = new(8);
    private int _holders;

    private FrameChunks() { }

    /// <summary>An empty set, held once (by the caller).</summary>
    public static FrameChunks Take()
    {
        if (!s_free.TryDequeue(out var chunks)) chunks = new FrameChunks();
        chunks._holders = 1;
        return chunks;
    }

    /// <summary>Chunks rented so far (tests).</summary>
    public int Count => _rented.Count;

    public byte[] Rent()
    {
        var chunk = ArrayPool<byte>.Shared.Rent(FrameJson.ChunkBytes);
        _rented.Add(chunk);
        return chunk;
    }

    /// <summary>One more holder, who must <see cref="Release"/> once it no longer reads the frame's JSON.</summary>
    public FrameChunks Hold()
    {
        if (Interlocked.Increment(ref _holders) <= 1) throw new InvalidOperationException("frame chunks held after their last release");
        return this;
    }

    public void Release()
    {
        int left = Interlocked.Decrement(ref _holders);
        if (left > 0) return;
        if (left < 0) throw new InvalidOperationException("frame chunks released more often than held");
        foreach (var chunk in _rented) ArrayPool<byte>.Shared.Return(chunk);
        _rented.Clear();
        if (s_free.Count < MaxKept) s_free.Enqueue(this);
    }
}
