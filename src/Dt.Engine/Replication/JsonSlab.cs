namespace Dt.Replication;

/// <summary>
/// Where one object's JSON sits in a <see cref="JsonSlab"/>: the segment and the offset of its length prefix. Its
/// length is in the slab, not here, so an index entry stays small: see <see cref="Pack"/>.
/// </summary>
internal readonly record struct JsonRef(int Segment, int Offset)
{
    /// <summary>Bits below the packed reference that <see cref="Pack"/> leaves to its owner.</summary>
    public const int SpareBits = 12;

    /// <summary>
    /// The reference in 52 bits above <paramref name="spare"/> (a value below 2^<see cref="SpareBits"/>): segment in
    /// the upper 32, offset in the 20 below (segments hold at most <see cref="JsonSlab.SegmentBytes"/>).
    /// </summary>
    public ulong Pack(int spare) => (ulong)(uint)Segment << 32 | (ulong)(uint)Offset << SpareBits | (uint)spare;

    public static JsonRef Unpack(ulong packed) => new((int)(packed >> 32), (int)((packed >> SpareBits) & (JsonSlab.SegmentBytes - 1)));
}

/// <summary>
/// One table's object JSON, packed into large append-only segments instead of a heap array per object: the GC
/// sees a few hundred arrays rather than millions, and nothing is copied between generations as the table grows.
/// Bytes once written are never overwritten, and a segment is never reused: it is dropped and left to the GC, so a
/// <see cref="ReadOnlyMemory{T}"/> handed out (to an event, a send, a reader) stays valid however long it is kept.
/// Removed objects leave dead bytes; <see cref="CompactionDue"/> says when they reach a quarter of what is held, and
/// the owner then moves the live objects out of every segment that is at least an eighth dead
/// (<see cref="Evacuates"/>, <see cref="Move"/>, <see cref="FinishCompaction"/>). So a removal-heavy table holds at
/// most a third more than its live JSON, and each compaction reclaims at least an eighth of it for one scan of
/// the index. Each object is stored after its length (a 1-byte prefix below 128 bytes, LEB128), except one with a
/// segment of its own, which is exactly its array. Not thread-safe: its table's lock guards it.
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

    private sealed class Segment(byte[] data, bool whole)
    {
        public readonly byte[] Data = data;

        /// <summary>Holds one object as the whole array (no length prefix).</summary>
        public readonly bool Whole = whole;
        public int Used;
        public long Dead;
    }

    /// <summary>Bytes (JSON and length prefixes) appended and not yet released.</summary>
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
        // An object over a quarter of a segment gets its own exact array, so segments are not left mostly empty.
        if (json.Length > SegmentBytes / 4) return Place(NewSegment(json.Length, current: false, whole: true), json);
        int size = PrefixBytes(json.Length) + json.Length;
        var seg = _current >= 0 ? _segments[_current] : null;
        if (seg is null || seg.Data.Length - seg.Used < size)
        {
            while (_nextSize < size) _nextSize *= 2;
            NewSegment(_nextSize, current: true, whole: false);
            _nextSize = Math.Min(SegmentBytes, _nextSize * 2);
        }
        return Place(_current, json);
    }

    public ReadOnlyMemory<byte> Get(in JsonRef at)
    {
        var seg = _segments[at.Segment]!;
        if (seg.Whole) return seg.Data;
        int length = ReadPrefix(seg.Data, at.Offset, out int start);
        return seg.Data.AsMemory(start, length);
    }

    public ReadOnlySpan<byte> Span(in JsonRef at) => Get(at).Span;

    /// <summary>Bytes of JSON of the object at <paramref name="at"/>.</summary>
    public int Length(in JsonRef at)
    {
        var seg = _segments[at.Segment]!;
        return seg.Whole ? seg.Data.Length : ReadPrefix(seg.Data, at.Offset, out _);
    }

    /// <summary>Marks an object's bytes dead (its entry was removed or replaced).</summary>
    public void Release(in JsonRef at)
    {
        var seg = _segments[at.Segment]!;
        int size = StoredBytes(seg, at);
        seg.Dead += size;
        LiveBytes -= size;
        DeadBytes += size;
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
        var moved = Append(Span(at));
        var seg = _segments[at.Segment]!;
        int size = StoredBytes(seg, at);
        seg.Dead += size;
        LiveBytes -= size;
        DeadBytes += size;
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

    private int NewSegment(int size, bool current, bool whole)
    {
        var seg = new Segment(current && size == SegmentBytes ? TakeFullSegment() : GC.AllocateUninitializedArray<byte>(size), whole);
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

    /// <summary>
    /// A full-size segment, faulted in ahead on another core when it could be. Where a page's first write is dear (12 µs
    /// a page fault on a virtual machine measured here: 3 ms a segment), a table taking objects in fast spent a third
    /// of its apply time faulting its slab in, under its lock; the spare moves that to a core that is often idle.
    /// A growing table of at least <see cref="SpareFromBytes"/> holds one spare segment, so the spare costs it at most
    /// a sixteenth more; a quiet table's trim drops it.
    /// </summary>
    private byte[] TakeFullSegment()
    {
        byte[] data;
        if (_spare is { IsCompletedSuccessfully: true } ready)
        {
            data = ready.Result;
            _spare = null;
        }
        else data = GC.AllocateUninitializedArray<byte>(SegmentBytes);
        if (CapacityBytes >= SpareFromBytes) _spare ??= Task.Run(static () =>
        {
            var spare = GC.AllocateUninitializedArray<byte>(SegmentBytes);
            for (int i = 0; i < spare.Length; i += PageBytes) spare[i] = 0;
            return spare;
        });
        return data;
    }

    private static readonly int PageBytes = Environment.SystemPageSize;

    /// <summary>Slab size from which a spare segment is kept.</summary>
    public const long SpareFromBytes = 16L * SegmentBytes;

    private Task<byte[]>? _spare;

    /// <summary>Lets go of the spare segment (the table has gone quiet).</summary>
    public void DropSpare() => _spare = null;

    private JsonRef Place(int index, ReadOnlySpan<byte> json)
    {
        var seg = _segments[index]!;
        var at = new JsonRef(index, seg.Used);
        var into = seg.Data.AsSpan(seg.Used);
        int prefix = seg.Whole ? 0 : WritePrefix(into, json.Length);
        json.CopyTo(into[prefix..]);
        seg.Used += prefix + json.Length;
        LiveBytes += prefix + json.Length;
        return at;
    }

    private static int StoredBytes(Segment seg, in JsonRef at)
    {
        if (seg.Whole) return seg.Data.Length;
        int length = ReadPrefix(seg.Data, at.Offset, out int start);
        return start - at.Offset + length;
    }

    private static int PrefixBytes(int length) => length < 1 << 7 ? 1 : length < 1 << 14 ? 2 : 3;

    private static int WritePrefix(Span<byte> into, int length)
    {
        int n = 0;
        while (length >= 0x80)
        {
            into[n++] = (byte)(length | 0x80);
            length >>= 7;
        }
        into[n++] = (byte)length;
        return n;
    }

    private static int ReadPrefix(byte[] data, int offset, out int start)
    {
        int length = 0, shift = 0;
        byte b;
        do
        {
            b = data[offset++];
            length |= (b & 0x7F) << shift;
            shift += 7;
        } while (b >= 0x80);
        start = offset;
        return length;
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
