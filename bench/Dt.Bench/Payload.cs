using System.Buffers.Text;

namespace Dt.Bench;

/// <summary>
/// The objects every scenario replicates: canonical JSON (keys sorted, no spaces) of about 100 bytes,
/// <c>{"data":"&lt;16 hex&gt;-&lt;pad&gt;","id":N}</c>, deterministic in (seed, id) so separate processes build the same table.
/// </summary>
public static class Payload
{
    /// <summary>Pad length that makes an object with a 6-digit id exactly 100 bytes.</summary>
    private const int Pad = 60;

    public static byte[] Object(int seed, long id)
    {
        Span<byte> buf = stackalloc byte[160];
        int n = 0;
        "{\"data\":\""u8.CopyTo(buf); n += 9;
        ulong h = Mix((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)id);
        for (int i = 0; i < 16; i++) buf[n++] = (byte)"0123456789abcdef"[(int)(h >> (60 - 4 * i)) & 15];
        buf[n++] = (byte)'-';
        ulong p = Mix(h);
        for (int i = 0; i < Pad; i++)
        {
            if ((i & 7) == 0) p = Mix(p + (ulong)i);
            buf[n++] = (byte)('a' + (int)((p >> (8 * (i & 7))) % 26));
        }
        "\",\"id\":"u8.CopyTo(buf[n..]); n += 7;
        Utf8Formatter.TryFormat(id, buf[n..], out int w); n += w;
        buf[n++] = (byte)'}';
        return buf[..n].ToArray();
    }

    /// <summary>Objects with ids [start, start+count).</summary>
    public static List<byte[]> Objects(int seed, long start, int count)
    {
        var list = new List<byte[]>(count);
        for (long i = start; i < start + count; i++) list.Add(Object(seed, i));
        return list;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
