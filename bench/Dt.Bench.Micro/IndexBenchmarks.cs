using BenchmarkDotNet.Attributes;
using Dt.Model;
using Dt.Replication;

namespace Dt.Bench.Micro;

/// <summary>
/// The table index at 1M entries (a table of 1M objects): filling it grown from empty (as log replay and a master's
/// adds do) and reserved (as a bulk sync does), and looking every entry up, against a <see cref="Dictionary{TKey,TValue}"/>
/// keyed the same way (what the index was before). The value is 16 bytes and reaches its full hash through an
/// array, as a table's entry does through its signed batch.
/// </summary>
[BenchmarkCategory("table")]
public class IndexBenchmarks
{
    private const int N = 1 << 20;
    private ObjectHash[] _hashes = [];
    private CompactIndex<Entry> _filled = null!;
    private Dictionary<ulong, Entry> _filledDictionary = null!;

    private readonly record struct Entry(ObjectHash[] Hashes, long Index) : IKeyedByHash
    {
        public ObjectHash Hash => Hashes[Index];
    }

    [GlobalSetup]
    public void Setup()
    {
        _hashes = new ObjectHash[N];
        var bytes = new byte[32];
        var random = new Random(5);
        for (int i = 0; i < N; i++)
        {
            random.NextBytes(bytes);
            _hashes[i] = ObjectHash.Read(bytes);
        }
        _filled = Fill(reserve: false);
        _filledDictionary = FillDictionary(reserve: false);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "CompactIndex fill 1M, grown, per entry")]
    public int Grown() => Fill(reserve: false).Count;

    [Benchmark(OperationsPerInvoke = N, Description = "CompactIndex fill 1M, reserved, per entry")]
    public int Reserved() => Fill(reserve: true).Count;

    [Benchmark(OperationsPerInvoke = N, Description = "CompactIndex lookup in 1M, per entry")]
    public long Lookup()
    {
        long sum = 0;
        foreach (var h in _hashes)
            if (_filled.TryGetValue(h, out var e)) sum += e.Index;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "Dictionary fill 1M, grown, per entry", Baseline = true)]
    public int DictionaryGrown() => FillDictionary(reserve: false).Count;

    [Benchmark(OperationsPerInvoke = N, Description = "Dictionary fill 1M, reserved, per entry")]
    public int DictionaryReserved() => FillDictionary(reserve: true).Count;

    [Benchmark(OperationsPerInvoke = N, Description = "Dictionary lookup in 1M, per entry")]
    public long DictionaryLookup()
    {
        long sum = 0;
        foreach (var h in _hashes)
            if (_filledDictionary.TryGetValue(h.A, out var e) && e.Hash == h) sum += e.Index;
        return sum;
    }

    private CompactIndex<Entry> Fill(bool reserve)
    {
        var index = new CompactIndex<Entry>();
        if (reserve) index.EnsureCapacity(N);
        for (int i = 0; i < N; i++) index.GetValueRefOrAddDefault(_hashes[i], out _) = new Entry(_hashes, i);
        return index;
    }

    private Dictionary<ulong, Entry> FillDictionary(bool reserve)
    {
        var index = new Dictionary<ulong, Entry>();
        if (reserve) index.EnsureCapacity(N);
        for (int i = 0; i < N; i++) System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(index, _hashes[i].A, out _) = new Entry(_hashes, i);
        return index;
    }
}
