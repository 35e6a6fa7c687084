using System.Security.Cryptography;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Dt.Protocol;
using Dt.Replication;
using Dt.Security;
using Dt.Model;
using Dt.Events;

namespace Dt.Bench.Micro;

/// <summary>Encoding and decoding a full Changes frame of one signed batch of 4,096 objects of ~100 bytes; per object.
/// Decoding checks every object's SHA-256 against its batch member, as a node does on receipt.</summary>
[BenchmarkCategory("batch")]
public class BatchCodecBenchmarks
{
    private const int N = ChangeBatch.MaxMembers;
    private ChangeBatch _batch = null!;
    private List<Change> _changes = [];
    private WireWriter _w = null!;
    private byte[] _frame = [];

    [GlobalSetup]
    public void Setup()
    {
        var objects = Payload.Objects(seed: 7, 0, N);
        var members = objects.Select(o => new BatchMember(ObjectHash.Of(o), false)).ToArray();
        _batch = new ChangeBatch(Guid.NewGuid(), 1, members, new byte[TrustedMasters.SignatureSize]);
        _changes = objects.Select((o, i) => new Change(members[i].Hash, _batch.VersionOf(members[i]), o, _batch, i)).ToList();
        _w = new WireWriter(1 << 20);
        Encode();
        _frame = _w.WrittenSpan[1..].ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _w.Dispose();

    [Benchmark(OperationsPerInvoke = N, Description = "BatchCodec encode, per object")]
    public int Encode()
    {
        _w.Reset();
        BatchCodec.EncodeHeader(_w, "bench", 1);
        BatchCodec.EncodeGroup(_w, _batch, _changes, 0, _changes.Count);
        return _w.Length;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "BatchCodec decode + SHA-256 check, per object")]
    public int Decode()
    {
        var r = new WireReader(_frame);
        var (_, groups) = BatchCodec.Decode(ref r, 1 << 20);
        return groups[0].Included.Count;
    }
}

/// <summary>Object identity: SHA-256 of canonical JSON (RFC 8785), from a parsed value or from raw bytes.</summary>
[BenchmarkCategory("hash")]
public class CanonicalJsonBenchmarks
{
    private JsonDocument _small = null!, _nested = null!;
    private byte[] _smallBytes = [], _nestedBytes = [];
    private readonly byte[] _hash = new byte[32];

    [GlobalSetup]
    public void Setup()
    {
        _smallBytes = Payload.Object(seed: 9, 123456);
        _small = JsonDocument.Parse(_smallBytes);
        // ~1 KB, unsorted keys, nesting, numbers, escapes: a DNS-record-like object.
        var json = "{\"zone\":\"example.org.\",\"ttl\":3600,\"name\":\"www\",\"type\":\"A\",\"records\":[" +
                   string.Join(",", Enumerable.Range(0, 12).Select(i => $"{{\"value\":\"192.0.2.{i}\",\"weight\":{i * 0.5},\"tags\":[\"a\\\"b\",\"é\",{i}],\"meta\":{{\"z\":true,\"a\":null}}}}")) +
                   "],\"serial\":2024010101}";
        _nestedBytes = System.Text.Encoding.UTF8.GetBytes(json);
        _nested = JsonDocument.Parse(_nestedBytes);
    }

    [GlobalCleanup]
    public void Cleanup() { _small?.Dispose(); _nested?.Dispose(); }

    [Benchmark(Description = "CanonicalJson.Hash, 100 B object")]
    public byte Hash100() { CanonicalJson.Hash(_small.RootElement, _hash); return _hash[0]; }

    [Benchmark(Description = "CanonicalJson.Hash, 1 KB nested object")]
    public byte Hash1K() { CanonicalJson.Hash(_nested.RootElement, _hash); return _hash[0]; }

    [Benchmark(Description = "CanonicalJson.CanonicalizeUtf8, 100 B (parse + write)")]
    public int Canonicalize100() => CanonicalJson.CanonicalizeUtf8(_smallBytes).Length;

    [Benchmark(Description = "ObjectHash.Of (SHA-256 only), 100 B")]
    public ulong Sha256Only() => ObjectHash.Of(_smallBytes).A;

    private List<byte[]> _many = [];
    private readonly ObjectHash[] _manyHashes = new ObjectHash[1024];

    [GlobalSetup(Target = nameof(Sha256Lanes))]
    public void SetupMany() => _many = Payload.Objects(seed: 9, 0, 1024);

    [Benchmark(OperationsPerInvoke = 1024, Description = "ObjectHash.OfMany (the CPU's SHA instructions where it has them, else eight lanes; one core), 100 B, per object")]
    public ulong Sha256Lanes()
    {
        ObjectHash.OfMany(_many, _manyHashes);
        return _manyHashes[0].A;
    }
}

/// <summary>
/// Table state: inserting new objects (the dictionary and the incremental per-leaf fingerprint sums), and the digest
/// update of a newer version of a held object (old fingerprint out, new one in, old batch released).
/// </summary>
[BenchmarkCategory("table")]
public class TableStateBenchmarks
{
    private const int N = 65536;
    private const int Replace = 4096;
    private List<byte[]> _objects = [];
    private BatchMember[] _members = [];
    private ChangeBatch[] _batches = [];
    private TableState _held = null!;
    private BatchMember[] _heldMembers = [];
    private readonly Guid _author = Guid.NewGuid();
    private ulong _hlc = 1_000;

    [GlobalSetup]
    public void Setup()
    {
        _objects = Payload.Objects(seed: 11, 0, N);
        _members = _objects.Select(o => new BatchMember(ObjectHash.Of(o), false)).ToArray();
        _batches = new ChangeBatch[N / ChangeBatch.MaxMembers];
        for (int b = 0; b < _batches.Length; b++)
            _batches[b] = new ChangeBatch(_author, (ulong)b + 1, _members[(b * ChangeBatch.MaxMembers)..((b + 1) * ChangeBatch.MaxMembers)], new byte[64]);
        _held = new TableState("held");
        _heldMembers = _members[..Replace];
        var first = new ChangeBatch(_author, _hlc, _heldMembers, new byte[64]);
        for (int i = 0; i < Replace; i++) _held.Apply(new Change(_heldMembers[i].Hash, first.VersionOf(_heldMembers[i]), _objects[i], first, i));
    }

    [Benchmark(OperationsPerInvoke = N, Description = "TableState.Apply insert into an empty table, per object")]
    public long Insert() => Fill(reserve: false);

    [Benchmark(OperationsPerInvoke = N, Description = "TableState.Apply insert, table reserved, per object")]
    public long InsertReserved() => Fill(reserve: true);

    private long Fill(bool reserve)
    {
        var t = new TableState("bench");
        if (reserve) t.Reserve(N);
        for (int i = 0; i < N; i++)
        {
            var batch = _batches[i / ChangeBatch.MaxMembers];
            int m = i % ChangeBatch.MaxMembers;
            t.Apply(new Change(_members[i].Hash, batch.VersionOf(batch.Members[m]), _objects[i], batch, m));
        }
        return t.LiveCount;
    }

    [Benchmark(OperationsPerInvoke = Replace, Description = "TableState.Apply newer version of a held object (digest update), per object")]
    public long DigestUpdate()
    {
        var batch = new ChangeBatch(_author, ++_hlc, _heldMembers, _batches[0].Signature);
        for (int i = 0; i < Replace; i++) _held.Apply(new Change(_heldMembers[i].Hash, batch.VersionOf(_heldMembers[i]), _objects[i], batch, i));
        return _held.LiveCount;
    }

    [Benchmark(Description = "EntryVersion.Fingerprint")]
    public ulong Fingerprint() => new EntryVersion(++_hlc, _author, false).Fingerprint(_members[0].Hash);
}

/// <summary>
/// Filling a table of a million objects as a restart's replay does (<see cref="TableState.ApplyAll"/>, a batch of
/// 4,096 at a time, room reserved first), and as a live stream does (one peer frame's batch at a time, the index
/// growing). The index is then far bigger than the caches, so this shows what a lookup's wait for memory costs.
/// </summary>
[BenchmarkCategory("table")]
public class TableFillBenchmarks
{
    private const int N = 1 << 20;
    private List<Change>[] _batches = [];

    [GlobalSetup]
    public void Setup()
    {
        var objects = Payload.Objects(seed: 19, 0, N);
        var author = Guid.NewGuid();
        _batches = new List<Change>[N / ChangeBatch.MaxMembers];
        for (int b = 0; b < _batches.Length; b++)
        {
            var members = new BatchMember[ChangeBatch.MaxMembers];
            for (int k = 0; k < members.Length; k++) members[k] = new BatchMember(ObjectHash.Of(objects[b * ChangeBatch.MaxMembers + k]), false);
            var batch = new ChangeBatch(author, (ulong)b + 1, members, new byte[64]);
            _batches[b] = members.Select((m, k) => new Change(m.Hash, batch.VersionOf(m), objects[b * ChangeBatch.MaxMembers + k], batch, k)).ToList();
        }
    }

    [Benchmark(OperationsPerInvoke = N, Description = "TableState.ApplyAll, 1M objects into a reserved table (replay), per object")]
    public long Replay()
    {
        var t = new TableState("replay");
        t.Reserve(N);
        foreach (var b in _batches) t.ApplyAll(b);
        return t.LiveCount;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "TableState.ApplyFromPeer, 1M objects into a growing table, per object")]
    public long Stream()
    {
        var t = new TableState("stream");
        var rules = new TableState.PeerRules(0, long.MaxValue);
        var applied = new List<Change>(ChangeBatch.MaxMembers);
        var refused = new List<Change>();
        foreach (var b in _batches)
        {
            t.ApplyFromPeer(b, rules, "peer", Quiet.Instance, applied, refused);
            applied.Clear();
        }
        return t.LiveCount;
    }

    /// <summary>A full table read back batch by batch, as a master serving a new node reads it (<see cref="TableState.CurrentOf"/>).</summary>
    [Benchmark(OperationsPerInvoke = N, Description = "TableState.CurrentOf, every batch of a 1M-object table (serving a sync), per object")]
    public long Serve()
    {
        _served ??= Filled();
        var into = new List<Change>(ChangeBatch.MaxMembers);
        long n = 0;
        foreach (var b in _batches)
        {
            _served.CurrentOf(b[0].Batch!, into);
            n += into.Count;
            into.Clear();
        }
        return n;
    }

    private TableState? _served;

    private TableState Filled()
    {
        var t = new TableState("served");
        t.Reserve(N);
        foreach (var b in _batches) t.ApplyAll(b);
        return t;
    }

    private sealed class Quiet : ITableObserver
    {
        public static readonly Quiet Instance = new();
        public void OnApplied(TableState table, ReadOnlySpan<AppliedChange> applied, string origin) { }
    }
}

/// <summary>Signing and verifying one change batch (ECDSA P-256 over the SHA-256 of its member list): paid once per
/// batch of up to 4,096 objects, so once per object when objects are added one at a time.</summary>
[BenchmarkCategory("sign")]
public class BatchSignatureBenchmarks
{
    private MasterSigningKey _key = null!;
    private TrustedMasters _trusted = null!;
    private BatchMember[] _one = [], _full = [];
    private byte[] _digest = [], _signature = [];

    [GlobalSetup]
    public void Setup()
    {
        _key = MasterSigningKey.Generate();
        _trusted = new TrustedMasters();
        _trusted.Add(_key.PublicKey);
        var objects = Payload.Objects(seed: 13, 0, ChangeBatch.MaxMembers);
        _full = objects.Select(o => new BatchMember(ObjectHash.Of(o), false)).ToArray();
        _one = _full[..1];
        _digest = ChangeBatch.Digest("dt", "bench", _key.Id, 1, _one);
        _signature = _key.SignDigest(_digest);
    }

    [GlobalCleanup]
    public void Cleanup() => _key.Dispose();

    [Benchmark(Description = "ChangeBatch.Digest, 1 member")]
    public byte[] Digest1() => ChangeBatch.Digest("dt", "bench", _key.Id, 1, _one);

    [Benchmark(Description = "ChangeBatch.Digest, 4,096 members")]
    public byte[] Digest4096() => ChangeBatch.Digest("dt", "bench", _key.Id, 1, _full);

    [Benchmark(Description = "ECDSA P-256 sign a batch digest")]
    public byte[] Sign() => _key.SignDigest(_digest);

    [Benchmark(Description = "ECDSA P-256 verify a batch signature")]
    public bool Verify() => _trusted.Verify(_key.Id, _digest, _signature);
}

/// <summary>
/// The per-object receive path in the steady state: one Changes frame of a signed batch of 4,096 objects of ~100 B
/// is decoded (every object's SHA-256 checked against its member), applied to a table that holds those objects
/// (each change a newer version, so the table neither grows nor shrinks), through the observer a node uses. A
/// newer version of a live object is a replace, for which the node publishes no event, so no event is measured here. Each call carries the next clock, patched into the frame. The signature check
/// is once per batch (80 µs, in <see cref="BatchSignatureBenchmarks"/>) and left out here.
/// </summary>
[BenchmarkCategory("apply")]
public class ApplyPathBenchmarks
{
    private const int N = ChangeBatch.MaxMembers;
    private byte[] _frame = [];
    private int _hlcAt;
    private ulong _hlc = 1;
    private TableState _table = null!;
    private readonly List<Change> _applied = new(N);
    private readonly List<Change> _refused = [];
    private readonly ChangeListPool _lists = new();
    private readonly EventObserver _observer = new(new EventHub(4096, 64, TimeProvider.System));

    [GlobalSetup]
    public void Setup()
    {
        var objects = Payload.Objects(seed: 17, 0, N);
        var members = objects.Select(o => new BatchMember(ObjectHash.Of(o), false)).ToArray();
        const ulong marker = 0x0102030405060708;
        var batch = new ChangeBatch(Guid.NewGuid(), marker, members, new byte[TrustedMasters.SignatureSize]);
        var changes = objects.Select((o, i) => new Change(members[i].Hash, batch.VersionOf(members[i]), o, batch, i)).ToList();
        using var w = new WireWriter(1 << 20);
        BatchCodec.EncodeHeader(w, "bench", 1);
        BatchCodec.EncodeGroup(w, batch, changes, 0, changes.Count);
        _frame = w.WrittenSpan[1..].ToArray();
        Span<byte> m = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(m, marker);
        _hlcAt = _frame.AsSpan().IndexOf(m);
        _table = new TableState("bench");
        _table.Reserve(N);
        Apply();
    }

    [Benchmark(OperationsPerInvoke = N, Description = "Receive path: decode + SHA-256 check + apply (replace), per object (steady state)")]
    public int Apply()
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(_frame.AsSpan(_hlcAt), ++_hlc);
        return DecodeInto(_table);
    }

    [Benchmark(OperationsPerInvoke = N, Description = "Receive path: decode + SHA-256 check + apply (insert into a new table, object_added events published), per object")]
    public int Insert()
    {
        var table = new TableState("insert");
        table.Reserve(N);
        return DecodeInto(table);
    }

    /// <summary>Decodes the frame and applies it to <paramref name="table"/>; how many changes won.</summary>
    private int DecodeInto(TableState table)
    {
        var r = new WireReader(_frame);
        // As a link's session does: the JSON goes into rented chunks, given back once applied.
        var chunks = FrameChunks.Take();
        var (_, groups) = BatchCodec.Decode(ref r, 1 << 20, lists: _lists, chunks: chunks);
        var rules = new TableState.PeerRules(0, long.MaxValue);
        foreach (var (_, included) in groups) table.ApplyFromPeer(included, rules, "peer", _observer, _applied, _refused);
        foreach (var (_, included) in groups) _lists.Return(included);
        chunks.Release();
        int n = _applied.Count;
        _applied.Clear();
        return n;
    }

    /// <summary>Publishes what a peer's change did, as the replicator does.</summary>
    private sealed class EventObserver(EventHub events) : ITableObserver
    {
        public void OnApplied(TableState table, ReadOnlySpan<AppliedChange> applied, string origin)
        {
            using var run = events.BeginRun();
            foreach (var a in applied)
                if (a.Outcome == ApplyOutcome.Added) run.Publish(DtEventTypes.ObjectAdded, table.Name, a.Hash, a.Json, origin);
        }
    }
}

/// <summary>
/// Publishing the object_added events of a frame's applied changes: one call (a lock and a clock reading) per event,
/// against one run of them (<see cref="EventHub.BeginRun"/>), as a table's apply now publishes. No subscriber, as on
/// most nodes: each event still takes its id and its place in the ring.
/// </summary>
[BenchmarkCategory("events")]
public class EventPublishBenchmarks
{
    private const int N = 4096;
    private readonly EventHub _events = new(4096, 64, TimeProvider.System);
    private ObjectHash[] _hashes = [];
    private readonly ReadOnlyMemory<byte> _json = new byte[100];

    [GlobalSetup]
    public void Setup() => _hashes = Payload.Objects(seed: 23, 0, N).Select(o => ObjectHash.Of(o)).ToArray();

    [Benchmark(OperationsPerInvoke = N, Description = "EventHub.Publish, one call per object_added event")]
    public long EachOnItsOwn()
    {
        foreach (var h in _hashes) _events.Publish(DtEventTypes.ObjectAdded, "bench", h, _json, "peer");
        return _events.LastId;
    }

    [Benchmark(OperationsPerInvoke = N, Description = "EventHub run, object_added events of a frame, per event")]
    public long InOneRun()
    {
        using (var run = _events.BeginRun())
            foreach (var h in _hashes) run.Publish(DtEventTypes.ObjectAdded, "bench", h, _json, "peer");
        return _events.LastId;
    }
}
