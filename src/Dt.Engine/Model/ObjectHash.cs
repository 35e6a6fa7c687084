using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;

namespace Dt.Model;

/// <summary>SHA-256 of an object's canonical JSON: the object's identity. Stored as four big-endian lanes.</summary>
internal readonly record struct ObjectHash(ulong A, ulong B, ulong C, ulong D)
{
    public const int Size = 32;

    public static ObjectHash Read(ReadOnlySpan<byte> s) => new(
        BinaryPrimitives.ReadUInt64BigEndian(s),
        BinaryPrimitives.ReadUInt64BigEndian(s[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(s[16..]),
        BinaryPrimitives.ReadUInt64BigEndian(s[24..]));

    public static ObjectHash Of(ReadOnlySpan<byte> canonicalJson)
    {
        if (NativeSha256.TryHash(canonicalJson, out var hash)) return hash;
        Span<byte> h = stackalloc byte[Size];
        SHA256.HashData(canonicalJson, h);
        return Read(h);
    }

    /// <summary>
    /// Whether many short objects are hashed eight at a time (<see cref="Sha256x8"/>): where the CPU has vectors but
    /// no SHA instructions. With them, one object at a time (<see cref="NativeSha256"/>) is faster still.
    /// </summary>
    public static bool HashInLanes(int length) => Sha256x8.IsAccelerated && !NativeSha256.IsAvailable && length <= Sha256x8.MaxLaneBytes;

    /// <summary>
    /// The hashes of many objects, as <see cref="Of"/> gives them one by one: short objects eight at a time
    /// where that pays (<see cref="HashInLanes"/>), the others alone.
    /// </summary>
    public static void OfMany(IReadOnlyList<byte[]> objects, Span<ObjectHash> hashes)
    {
        if (hashes.Length < objects.Count) throw new ArgumentException("one hash per object", nameof(hashes));
        var lanes = new Sha256x8();
        Span<int> at = stackalloc int[Sha256x8.Lanes];
        int n = 0;
        for (int i = 0; i < objects.Count; i++)
        {
            var o = objects[i];
            if (!HashInLanes(o.Length)) { hashes[i] = Of(o); continue; }
            lanes.Set(n, o);
            at[n++] = i;
            if (n == Sha256x8.Lanes) { Flush(ref lanes, at, n, hashes); n = 0; }
        }
        if (n > 0) Flush(ref lanes, at, n, hashes);

        static void Flush(ref Sha256x8 lanes, scoped ReadOnlySpan<int> at, int n, Span<ObjectHash> hashes)
        {
            Span<ObjectHash> h = stackalloc ObjectHash[Sha256x8.Lanes];
            lanes.Hash(n, h);
            for (int k = 0; k < n; k++) hashes[at[k]] = h[k];
        }
    }

    public void Write(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt64BigEndian(d, A);
        BinaryPrimitives.WriteUInt64BigEndian(d[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(d[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(d[24..], D);
    }

    /// <summary>The top <paramref name="bits"/> bits (0 to 64) of the hash, right-aligned.</summary>
    public ulong Prefix(int bits) => bits == 0 ? 0 : A >> (64 - bits);

    public override string ToString()
    {
        Span<byte> b = stackalloc byte[Size];
        Write(b);
        return Convert.ToHexStringLower(b);
    }

    public static bool TryParse(string? hex, out ObjectHash hash)
    {
        hash = default;
        if (hex is null || hex.Length != 64) return false;
        Span<byte> b = stackalloc byte[Size];
        if (Convert.FromHexString(hex, b, out _, out int written) != System.Buffers.OperationStatus.Done || written != Size) return false;
        hash = Read(b);
        return true;
    }

    public override int GetHashCode() => (int)B ^ (int)(B >> 32);
}

/// <summary>
/// SHA-256 of eight messages at once, one per 32-bit lane of a 256-bit vector. Objects are ~100 bytes, where the
/// per-call cost of <see cref="SHA256.HashData(ReadOnlySpan{byte}, Span{byte})"/> (≈ 0.7 µs, most of it not hashing)
/// dominates; eight lanes in step cost about one call's worth of rounds. Lanes of different lengths run as many
/// blocks as the longest, so callers keep long messages for the one-by-one path (<see cref="MaxLaneBytes"/>).
/// Checked against <see cref="SHA256"/> by tests.
/// </summary>
internal ref struct Sha256x8
{
    public const int Lanes = 8;

    /// <summary>Longest message worth a lane: beyond it one lane would make seven wait.</summary>
    public const int MaxLaneBytes = 1024;

    /// <summary>Vectors of eight run in hardware here; otherwise callers hash one by one.</summary>
    public static bool IsAccelerated => Vector256.IsHardwareAccelerated;

    private ReadOnlySpan<byte> _m0, _m1, _m2, _m3, _m4, _m5, _m6, _m7;

    public void Set(int lane, ReadOnlySpan<byte> message)
    {
        switch (lane)
        {
            case 0: _m0 = message; break;
            case 1: _m1 = message; break;
            case 2: _m2 = message; break;
            case 3: _m3 = message; break;
            case 4: _m4 = message; break;
            case 5: _m5 = message; break;
            case 6: _m6 = message; break;
            case 7: _m7 = message; break;
            default: throw new ArgumentOutOfRangeException(nameof(lane));
        }
    }

    private readonly ReadOnlySpan<byte> Get(int lane) => lane switch
    {
        0 => _m0, 1 => _m1, 2 => _m2, 3 => _m3, 4 => _m4, 5 => _m5, 6 => _m6, _ => _m7,
    };

    /// <summary>Hashes the first <paramref name="lanes"/> lanes set (the others are ignored) into <paramref name="hashes"/>.</summary>
    public readonly void Hash(int lanes, Span<ObjectHash> hashes)
    {
        Span<int> blocks = stackalloc int[Lanes];
        int maxBlocks = 0;
        for (int l = 0; l < Lanes; l++)
        {
            blocks[l] = l < lanes ? (Get(l).Length + 9 + 63) / 64 : 0;
            if (blocks[l] > maxBlocks) maxBlocks = blocks[l];
        }
        var a = Vector256.Create(0x6a09e667u); var b = Vector256.Create(0xbb67ae85u);
        var c = Vector256.Create(0x3c6ef372u); var d = Vector256.Create(0xa54ff53au);
        var e = Vector256.Create(0x510e527fu); var f = Vector256.Create(0x9b05688cu);
        var g = Vector256.Create(0x1f83d9abu); var h = Vector256.Create(0x5be0cd19u);
        var counts = Vector256.Create(blocks[0], blocks[1], blocks[2], blocks[3], blocks[4], blocks[5], blocks[6], blocks[7]);
        Span<uint> words = stackalloc uint[16 * Lanes];
        Span<Vector256<uint>> w = stackalloc Vector256<uint>[16];
        Span<byte> pad = stackalloc byte[64];
        for (int block = 0; block < maxBlocks; block++)
        {
            for (int l = 0; l < Lanes; l++) LoadBlock(Get(l), block, blocks[l], words, l, pad);
            for (int t = 0; t < 16; t++) w[t] = Vector256.Create(words.Slice(t * Lanes, Lanes));
            var (a0, b0, c0, d0, e0, f0, g0, h0) = (a, b, c, d, e, f, g, h);
            for (int t = 0; t < 64; t++)
            {
                Vector256<uint> wt;
                if (t < 16) wt = w[t];
                else
                {
                    var w15 = w[(t - 15) & 15];
                    var w2 = w[(t - 2) & 15];
                    wt = w[t & 15] += (Rotr(w15, 7) ^ Rotr(w15, 18) ^ (w15 >>> 3)) + w[(t - 7) & 15] + (Rotr(w2, 17) ^ Rotr(w2, 19) ^ (w2 >>> 10));
                }
                var t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + (g ^ (e & (f ^ g))) + Vector256.Create(K[t]) + wt;
                var t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) | (c & (a | b)));
                h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
            }
            // Lanes whose message ended in an earlier block keep their state.
            var live = Vector256.GreaterThan(counts, Vector256.Create(block)).AsUInt32();
            a = Vector256.ConditionalSelect(live, a + a0, a0); b = Vector256.ConditionalSelect(live, b + b0, b0);
            c = Vector256.ConditionalSelect(live, c + c0, c0); d = Vector256.ConditionalSelect(live, d + d0, d0);
            e = Vector256.ConditionalSelect(live, e + e0, e0); f = Vector256.ConditionalSelect(live, f + f0, f0);
            g = Vector256.ConditionalSelect(live, g + g0, g0); h = Vector256.ConditionalSelect(live, h + h0, h0);
        }
        for (int l = 0; l < lanes; l++)
            hashes[l] = new ObjectHash(
                ((ulong)a.GetElement(l) << 32) | b.GetElement(l), ((ulong)c.GetElement(l) << 32) | d.GetElement(l),
                ((ulong)e.GetElement(l) << 32) | f.GetElement(l), ((ulong)g.GetElement(l) << 32) | h.GetElement(l));
    }

    /// <summary>Writes block <paramref name="block"/> of a lane's padded message as big-endian words into column <paramref name="lane"/>.</summary>
    private static void LoadBlock(ReadOnlySpan<byte> m, int block, int blocks, Span<uint> words, int lane, Span<byte> pad)
    {
        if (block >= blocks) return;
        int start = block * 64;
        ReadOnlySpan<byte> src;
        if (start + 64 <= m.Length) src = m.Slice(start, 64);
        else
        {
            pad.Clear();
            if (start < m.Length) m[start..].CopyTo(pad);
            if (m.Length >= start) pad[m.Length - start] = 0x80;
            if (block == blocks - 1) BinaryPrimitives.WriteUInt64BigEndian(pad[56..], (ulong)m.Length * 8);
            src = pad;
        }
        for (int t = 0; t < 16; t++) words[t * Lanes + lane] = BinaryPrimitives.ReadUInt32BigEndian(src[(t * 4)..]);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Rotr(Vector256<uint> x, [System.Diagnostics.CodeAnalysis.ConstantExpected] byte n) =>
        (x >>> n) | (x << (32 - n));

    private static ReadOnlySpan<uint> K =>
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
}
