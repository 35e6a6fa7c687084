namespace Dt.Replication;

/// <summary>Where one object's JSON sits in a <see cref="JsonSlab"/>.</summary>
internal readonly record struct JsonRef(int Segment, int Offset, int Length);

/// <summary>
/// One table's object JSON, packed into large append-only segments instead of a heap array per object: the GC
/// sees a few hundred arrays rather than millions, and nothing is copied between generations as the table grows.
/// Bytes once written are never overwritten, and a segment is never reused: it is dropped and left to the GC, so a
/// <see cref="ReadOnlyMemory{T}"/> handed out (to an event, a send, a reader) stays valid however long it is kept.
/// Removed objects leave dead bytes; <see cref="CompactionDue"/> says when they reach a quarter of what is held, and
/// the owner then moves the live objects out of every segment that is at least an eighth dead
/// (<see cref="Evacuates"/>, <see cref="Move"/>, <see cref="FinishCompaction"/>). So a removal-heavy table holds at
/// most a third more than its live JSON, and each compaction reclaims at least an eighth of it for one scan of
/// the index. Not thread-safe: its table's lock guards it.
/// </summary>
internal sealed class JsonSlab
{
    /// <summary>The size segments grow to (they start small so that a small table stays small).</summary>
    public const int SegmentBytes = 1 << 20;
    private const int FirstSegmentBytes = 4 << 10;

    private readonly List<Segment?> _segments = [];
    private readonly Stack<int> _freeSlots = new();
    private int _current = -1;
    private int _nextSize = FirstSegmentBytes;
    private bool[]? _evacuating;

    private sealed class Segment(byte[] data)
    {
        public readonly byte[] Data = data;
        public int Used;
        public long Dead;
    }

    /// <summary>Bytes of JSON appended and not yet released.</summary>
    public long LiveBytes { get; private set; }

    /// <summary>Bytes released but still held in segments.</summary>
    public long DeadBytes { get; private set; }

    /// <summary>Bytes of every segment held (what the slab costs in memory).</summary>
    public long CapacityBytes { get; private set; }

    public int SegmentCount => _segments.Count - _freeSlots.Count;

    /// <summary>Dead bytes are at least a quarter of what is held and worth a scan (a segment's worth).</summary>
    public bool CompactionDue => DeadBytes >= SegmentBytes && DeadBytes * 4 >= LiveBytes + DeadBytes;

    public JsonRef Append(ReadOnlySpan<byte> json)
    {
        var seg = _current >= 0 ? _segments[_current] : null;
        if (seg is null || seg.Data.Length - seg.Used < json.Length)
        {
            // An object over a quarter of a segment gets its own exact array, so segments are not left mostly empty.
            if (json.Length > SegmentBytes / 4) return Place(NewSegment(json.Length, current: false), json);
            while (_nextSize < json.Length) _nextSize *= 2;
            NewSegment(_nextSize, current: true);
            _nextSize = Math.Min(SegmentBytes, _nextSize * 2);
        }
        return Place(_current, json);
    }

    public ReadOnlyMemory<byte> Get(in JsonRef at) => _segments[at.Segment]!.Data.AsMemory(at.Offset, at.Length);

    public ReadOnlySpan<byte> Span(in JsonRef at) => _segments[at.Segment]!.Data.AsSpan(at.Offset, at.Length);

    /// <summary>Marks an object's bytes dead (its entry was removed or replaced).</summary>
    public void Release(in JsonRef at)
    {
        var seg = _segments[at.Segment]!;
        seg.Dead += at.Length;
        LiveBytes -= at.Length;
        DeadBytes += at.Length;
        if (seg.Dead == seg.Used && at.Segment != _current) Drop(at.Segment);
    }

    /// <summary>Starts a compaction: picks every segment at least an eighth dead except the one being filled.</summary>
    public void BeginCompaction()
    {
        _evacuating = new bool[_segments.Count];
        for (int i = 0; i < _segments.Count; i++)
            if (_segments[i] is { } s && i != _current && s.Dead * 8 >= s.Used) _evacuating[i] = true;
    }

    /// <summary>Whether the object at <paramref name="at"/> must <see cref="Move"/> in this compaction.</summary>
    public bool Evacuates(in JsonRef at) => _evacuating is { } e && at.Segment < e.Length && e[at.Segment];

    /// <summary>Copies a live object out of an evacuated segment; the caller stores the new place.</summary>
    public JsonRef Move(in JsonRef at)
    {
        var bytes = Span(at);
        var moved = Append(bytes);
        var seg = _segments[at.Segment]!;
        seg.Dead += at.Length;
        LiveBytes -= at.Length;
        DeadBytes += at.Length;
        return moved;
    }

    /// <summary>Drops the evacuated segments (every live object in them has moved).</summary>
    public void FinishCompaction()
    {
        var e = _evacuating!;
        _evacuating = null;
        for (int i = 0; i < e.Length; i++)
            if (e[i] && _segments[i] is not null) Drop(i);
    }

    private int NewSegment(int size, bool current)
    {
        var seg = new Segment(GC.AllocateUninitializedArray<byte>(size));
        int index;
        if (_freeSlots.TryPop(out index)) _segments[index] = seg;
        else
        {
            index = _segments.Count;
            _segments.Add(seg);
        }
        CapacityBytes += size;
        if (current) _current = index;
        return index;
    }

    private JsonRef Place(int index, ReadOnlySpan<byte> json)
    {
        var seg = _segments[index]!;
        var at = new JsonRef(index, seg.Used, json.Length);
        json.CopyTo(seg.Data.AsSpan(seg.Used));
        seg.Used += json.Length;
        LiveBytes += json.Length;
        return at;
    }

    private void Drop(int index)
    {
        var seg = _segments[index]!;
        DeadBytes -= seg.Dead;
        LiveBytes -= seg.Used - seg.Dead;
        CapacityBytes -= seg.Data.Length;
        _segments[index] = null;
        _freeSlots.Push(index);
        if (index == _current) _current = -1;
    }
}
