using BenchmarkDotNet.Attributes;
using Dt.Model;
using Dt.Replication;
using Dt.Security;

namespace Dt.Bench.Micro;

/// <summary>
/// What a removal-heavy table costs with JSON in a slab: a table of 100,000 objects of ~100 bytes where every
/// operation removes one held object and adds a new one, so the slab fills with dead bytes and compacts. Per
/// operation (one removal plus one add, each signed as its own batch as a master does); the slab's size relative
/// to its live JSON is printed once at the end.
/// </summary>
[BenchmarkCategory("table")]
public class TableChurnBenchmarks
{
    private const int Held = 100_000;
    private const int Ops = 10_000;
    private static readonly Guid Author = Guid.NewGuid();
    private TableState _table = null!;
    private readonly Queue<ObjectHash> _live = new();
    private byte[][] _fresh = [];
    private ObjectHash[] _freshHashes = [];
    private long _next;
    private ulong _hlc;

    private sealed class Quiet : ITableObserver
    {
        public void OnApplied(TableState table, ReadOnlySpan<AppliedChange> applied, string origin) { }
    }

    private readonly Quiet _observer = new();

    private ChangeBatch Sign(BatchMember[] members) => new(Author, ++_hlc, members, new byte[TrustedMasters.SignatureSize]);

    [GlobalSetup]
    public void Setup()
    {
        _table = new TableState("bench");
        var objects = Payload.Objects(seed: 11, 0, Held);
        var hashes = objects.Select(o => ObjectHash.Of(o)).ToArray();
        _table.AddLocal(hashes, objects, long.MaxValue, Sign, _observer, null);
        foreach (var h in hashes) _live.Enqueue(h);
        _next = Held;
    }

    [IterationSetup]
    public void Prepare()
    {
        _fresh = Payload.Objects(seed: 11, _next, Ops).ToArray();
        _freshHashes = _fresh.Select(o => ObjectHash.Of(o)).ToArray();
        _next += Ops;
    }

    [Benchmark(OperationsPerInvoke = Ops, Description = "remove the oldest object + add a new one, per pair")]
    public void RemoveAndAdd()
    {
        for (int i = 0; i < Ops; i++)
        {
            _table.RemoveLocal(_live.Dequeue(), Sign, _observer, null);
            _table.AddLocal([_freshHashes[i]], [_fresh[i]], long.MaxValue, Sign, _observer, null);
            _live.Enqueue(_freshHashes[i]);
        }
    }

    [GlobalCleanup]
    public void Report() =>
        Console.WriteLine($"// slab after churn: {_table.SlabBytes / 1e6:0.0} MB in {_table.SlabSegments} segments for {_table.LiveJsonBytes / 1e6:0.0} MB of live JSON ({(double)_table.SlabBytes / _table.LiveJsonBytes:0.00}×)");
}
