namespace Dt.Files;

/// <summary>
/// Content-defined chunking (FastCDC's normalized gear hash): cut points depend on the bytes around them, not on
/// their offsets, so an insertion or a change in a large file moves only the chunks it touches and every other
/// chunk keeps its hash (and is not sent again). Deterministic: the gear table comes from a fixed seed, so every
/// publisher cuts the same content the same way.
/// </summary>
public sealed class ContentChunker
{
    private static readonly ulong[] Gear = MakeGear();
    private readonly int _min, _avg, _max;
    private readonly ulong _maskSmall, _maskLarge;

    /// <param name="averageBytes">Target chunk size, a power of two (e.g. 256 KiB).</param>
    /// <param name="maxBytes">Hard maximum (at least twice the average).</param>
    public ContentChunker(int averageBytes, int maxBytes)
    {
        if (averageBytes < 256 || (averageBytes & (averageBytes - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(averageBytes), "a power of two, at least 256");
        if (maxBytes < averageBytes * 2) throw new ArgumentOutOfRangeException(nameof(maxBytes), "at least twice the average");
        _avg = averageBytes;
        _min = averageBytes / 4;
        _max = maxBytes;
        int bits = System.Numerics.BitOperations.Log2((uint)averageBytes);
        // Normalized chunking: harder to cut before the average, easier after, so sizes cluster around it.
        _maskSmall = SpreadMask(bits + 2);
        _maskLarge = SpreadMask(bits - 2);
    }

    public int MaxBytes => _max;

    /// <summary>The length of the next chunk at the start of <paramref name="data"/>. With fewer than
    /// <see cref="MaxBytes"/> bytes left and <paramref name="final"/> false, the caller should read more first.</summary>
    public int Cut(ReadOnlySpan<byte> data, bool final)
    {
        int n = data.Length;
        if (n <= _min) return n;
        if (n > _max) n = _max;
        ulong h = 0;
        int i = _min, normal = Math.Min(_avg, n);
        for (; i < normal; i++)
        {
            h = (h << 1) + Gear[data[i]];
            if ((h & _maskSmall) == 0) return i + 1;
        }
        for (; i < n; i++)
        {
            h = (h << 1) + Gear[data[i]];
            if ((h & _maskLarge) == 0) return i + 1;
        }
        return n;
    }

    /// <summary>A mask of <paramref name="bits"/> ones spread over the upper 48 bits (the gear hash's best-mixed bits).</summary>
    private static ulong SpreadMask(int bits)
    {
        ulong mask = 0;
        for (int i = 0; i < bits; i++) mask |= 1UL << (63 - i * 47 / Math.Max(bits - 1, 1));
        // Distinct positions for small bit counts; fall back to the top bits if any collided.
        return System.Numerics.BitOperations.PopCount(mask) == bits ? mask : ulong.MaxValue << (64 - bits);
    }

    private static ulong[] MakeGear()
    {
        var gear = new ulong[256];
        ulong s = 0x9E3779B97F4A7C15UL; // SplitMix64, fixed seed
        for (int i = 0; i < gear.Length; i++)
        {
            ulong z = s += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            gear[i] = z ^ (z >> 31);
        }
        return gear;
    }
}
