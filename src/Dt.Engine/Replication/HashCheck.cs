using System.Buffers;
using Dt.Model;

namespace Dt.Replication;

/// <summary>
/// Checks received objects against the hashes their signed batch lists, a frame at a time: with the CPU's SHA
/// instructions where it has them (<see cref="NativeSha256"/>), else eight objects per SIMD pass
/// (<see cref="Sha256x8"/>), and a large frame's objects split across the cores. The check binds each
/// object's JSON to the signed member list, so it is never skipped; this only makes it cheaper. An object whose hash
/// was left off the wire (<see cref="Derive"/>) gets it computed here and written into its batch's member list, which
/// the batch's signature check then covers in the same way.
/// </summary>
internal sealed class HashCheck
{
    /// <summary>Below this many objects a frame is checked on the calling thread: splitting costs more than it saves.</summary>
    private const int ParallelFrom = 1024;

    private ReadOnlyMemory<byte>[] _json = [];
    private ObjectHash[] _expected = [];
    // For a derived object: the member list its hash goes into (at _expected[i].A as the index); null to check.
    private BatchMember[]?[] _into = [];

    public int Count { get; private set; }

    public void Add(ReadOnlyMemory<byte> json, in ObjectHash expected)
    {
        if (Count == _json.Length) Grow();
        _json[Count] = json;
        _expected[Count] = expected;
        _into[Count] = null;
        Count++;
    }

    /// <summary>Computes the hash of <paramref name="json"/> into <paramref name="members"/>[<paramref name="index"/>] (an add).</summary>
    public void Derive(ReadOnlyMemory<byte> json, BatchMember[] members, int index)
    {
        if (Count == _json.Length) Grow();
        _json[Count] = json;
        _expected[Count] = new ObjectHash((ulong)index, 0, 0, 0);
        _into[Count] = members;
        Count++;
    }

    /// <summary>Whether the computed hash of entry <paramref name="i"/> is right: stored if derived, compared if not.</summary>
    private bool Accept(int i, in ObjectHash hash)
    {
        if (_into[i] is { } members)
        {
            members[(int)_expected[i].A] = new BatchMember(hash, false);
            return true;
        }
        return hash == _expected[i];
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
            if (!ObjectHash.HashInLanes(json.Length))
            {
                if (!Accept(i, ObjectHash.Of(json))) return false;
                continue;
            }
            lanes.Set(n, json);
            at[n++] = i;
            if (n < Sha256x8.Lanes) continue;
            lanes.Hash(n, got);
            for (int k = 0; k < n; k++) if (!Accept(at[k], got[k])) return false;
            n = 0;
        }
        if (n == 0) return true;
        lanes.Hash(n, got);
        for (int k = 0; k < n; k++) if (!Accept(at[k], got[k])) return false;
        return true;
    }

    private void Grow()
    {
        int size = Math.Max(1024, _json.Length * 2);
        var json = ArrayPool<ReadOnlyMemory<byte>>.Shared.Rent(size);
        var expected = ArrayPool<ObjectHash>.Shared.Rent(size);
        var into = ArrayPool<BatchMember[]?>.Shared.Rent(size);
        _json.AsSpan(0, Count).CopyTo(json);
        _expected.AsSpan(0, Count).CopyTo(expected);
        _into.AsSpan(0, Count).CopyTo(into);
        int count = Count;
        Release();
        Count = count;
        _json = json;
        _expected = expected;
        _into = into;
    }

    private void Release()
    {
        if (_json.Length > 0)
        {
            Array.Clear(_json, 0, Count);
            Array.Clear(_into, 0, Count);
            ArrayPool<ReadOnlyMemory<byte>>.Shared.Return(_json);
            ArrayPool<ObjectHash>.Shared.Return(_expected);
            ArrayPool<BatchMember[]?>.Shared.Return(_into);
        }
        _json = [];
        _expected = [];
        _into = [];
        Count = 0;
    }
}
