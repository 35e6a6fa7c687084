using System.Buffers;
using Dt.Model;

namespace Dt.Replication;

/// <summary>
/// Checks received objects against the hashes their signed batch lists, a frame at a time: eight objects per
/// SIMD pass (<see cref="Sha256x8"/>), and a large frame's objects split across the cores. The check binds each
/// object's JSON to the signed member list, so it is never skipped; this only makes it cheaper.
/// </summary>
internal sealed class HashCheck
{
    /// <summary>Below this many objects a frame is checked on the calling thread: splitting costs more than it saves.</summary>
    private const int ParallelFrom = 1024;

    private ReadOnlyMemory<byte>[] _json = [];
    private ObjectHash[] _expected = [];

    public int Count { get; private set; }

    public void Add(ReadOnlyMemory<byte> json, in ObjectHash expected)
    {
        if (Count == _json.Length) Grow();
        _json[Count] = json;
        _expected[Count] = expected;
        Count++;
    }

    /// <summary>Whether every object added matches its hash. Empties the check and returns its buffers to the pool.</summary>
    public bool Run()
    {
        try
        {
            int count = Count;
            if (count == 0) return true;
            int parts = count < ParallelFrom ? 1 : Math.Min(Environment.ProcessorCount, count / (ParallelFrom / 2));
            if (parts <= 1) return Range(0, count);
            int failed = 0;
            Parallel.For(0, parts, p =>
            {
                if (!Range(count * p / parts, count * (p + 1) / parts)) Volatile.Write(ref failed, 1);
            });
            return failed == 0;
        }
        finally
        {
            Release();
        }
    }

    private bool Range(int start, int end)
    {
        var lanes = new Sha256x8();
        Span<int> at = stackalloc int[Sha256x8.Lanes];
        Span<ObjectHash> got = stackalloc ObjectHash[Sha256x8.Lanes];
        int n = 0;
        for (int i = start; i < end; i++)
        {
            var json = _json[i].Span;
            if (!Sha256x8.IsAccelerated || json.Length > Sha256x8.MaxLaneBytes)
            {
                if (ObjectHash.Of(json) != _expected[i]) return false;
                continue;
            }
            lanes.Set(n, json);
            at[n++] = i;
            if (n < Sha256x8.Lanes) continue;
            lanes.Hash(n, got);
            for (int k = 0; k < n; k++) if (got[k] != _expected[at[k]]) return false;
            n = 0;
        }
        if (n == 0) return true;
        lanes.Hash(n, got);
        for (int k = 0; k < n; k++) if (got[k] != _expected[at[k]]) return false;
        return true;
    }

    private void Grow()
    {
        int size = Math.Max(1024, _json.Length * 2);
        var json = ArrayPool<ReadOnlyMemory<byte>>.Shared.Rent(size);
        var expected = ArrayPool<ObjectHash>.Shared.Rent(size);
        _json.AsSpan(0, Count).CopyTo(json);
        _expected.AsSpan(0, Count).CopyTo(expected);
        if (_json.Length > 0)
        {
            Array.Clear(_json, 0, Count);
            ArrayPool<ReadOnlyMemory<byte>>.Shared.Return(_json);
            ArrayPool<ObjectHash>.Shared.Return(_expected);
        }
        _json = json;
        _expected = expected;
    }

    private void Release()
    {
        if (_json.Length > 0)
        {
            Array.Clear(_json, 0, Count);
            ArrayPool<ReadOnlyMemory<byte>>.Shared.Return(_json);
            ArrayPool<ObjectHash>.Shared.Return(_expected);
        }
        _json = [];
        _expected = [];
        Count = 0;
    }
}
