using System.Diagnostics;
using Dt.Hosting;
using Dt.Replication;
using Dt.Model;

namespace Dt.Bench.Scenarios;

/// <summary>
/// Initial sync, memory and catch-up on one pair of in-process nodes:
/// <list type="number">
/// <item>a master loads N objects of ~100 bytes in bulk;</item>
/// <item>initial sync: a new node dials it; seconds from its start until its digest equals the master's, and the
/// bytes on its link (both directions, handshake included) ÷ the payload bytes;</item>
/// <item>memory: managed heap of the new node (heap growth when it joined, after a full compacting GC) ÷ payload;</item>
/// <item>catch-up: the node stops; the master removes N/200 objects (one call each) and adds N/200 new ones (one bulk
/// call): 1 % of the table changed; the node restarts with its old store (memory) or data folder (disk); seconds from
/// its restart until its digest equals the master's, and its link bytes ÷ the full table's payload bytes.</item>
/// </list>
/// </summary>
public static class SyncPipeline
{
    public const string Table = "bench";

    public static TimeSpan Timeout(long n) => TimeSpan.FromSeconds(30 + n / 10_000.0);

    public static async Task<Values> RunAsync(long n, DtStorage storage, bool catchUp, Action<string> progress)
    {
        var v = new Values();
        await using var net = new BenchNet(storage);
        long heap0 = await StableHeapAsync();
        var master = await net.Start(net.Options(master: true));

        var sw = Stopwatch.StartNew();
        long payload = BenchNet.Load(master, Table, n, seed: 1);
        if (storage == DtStorage.Disk) await master.Replicator.WhenDurable();
        v["load_s"] = sw.Elapsed.TotalSeconds;
        v["payload"] = payload;
        long heapMaster = await StableHeapAsync() - heap0;
        v["heap_master"] = heapMaster;
        var (count, digest) = BenchNet.Summary(master, Table);
        if (count != n) throw new InvalidOperationException($"master holds {count} objects, expected {n}");
        progress($"loaded {n:N0} objects ({Fmt.Bytes(payload)}) in {Fmt.Seconds(v["load_s"])}");

        // Initial sync.
        var options = net.Options(master: false, master);
        long t0 = Stopwatch.GetTimestamp();
        var node = await net.Start(options);
        (v["sync_s"], v["sync_link_s"]) = await BenchNet.WaitDigestAndLink(node, Table, count, digest, t0, Timeout(n), "initial sync");
        long wireAt = BenchNet.Wire(node);
        await Task.Delay(300);
        long wire = BenchNet.Wire(node);
        v["sync_wire"] = wire;
        v["sync_wire_ratio"] = (double)wire / payload;
        v["sync_wire_after"] = wire - wireAt;
        progress($"initial sync {Fmt.Seconds(v["sync_s"])}, wire {Fmt.Ratio(v["sync_wire_ratio"])}");

        // Memory: what the second node added to the heap.
        long heapBoth = await StableHeapAsync() - heap0;
        v["heap_node"] = heapBoth - heapMaster;
        v["heap_node_ratio"] = (double)(heapBoth - heapMaster) / payload;
        v["heap_master_ratio"] = (double)heapMaster / payload;
        var (rss, peak) = Machine.Rss();
        v["rss_process"] = rss;
        v["rss_peak_process"] = peak;

        if (!catchUp) return v;

        // Catch-up: 1 % of the table changes while the node is offline.
        var store = node.Store;
        await net.Stop(node);
        int k = (int)Math.Max(1, n / 200);
        sw.Restart();
        for (long i = 0; i < k; i++) master.Replicator.Remove(Table, ObjectHash.Of(Payload.Object(1, i)));
        BenchNet.Load(master, Table, k, seed: 1, start: n);
        if (storage == DtStorage.Disk) await master.Replicator.WhenDurable();
        v["change_s"] = sw.Elapsed.TotalSeconds;
        (count, digest) = BenchNet.Summary(master, Table);
        long tableBytes = (long)master.Replicator.Find(Table)!.LiveJsonBytes;
        v["table_bytes"] = tableBytes;

        t0 = Stopwatch.GetTimestamp();
        var again = await net.Start(options, storage == DtStorage.Memory ? store : null);
        (v["catchup_s"], v["catchup_link_s"]) = await BenchNet.WaitDigestAndLink(again, Table, count, digest, t0, Timeout(n), "catch-up");
        await Task.Delay(300);
        wire = BenchNet.Wire(again);
        v["catchup_wire"] = wire;
        v["catchup_wire_ratio"] = (double)wire / tableBytes;
        progress($"catch-up {Fmt.Seconds(v["catchup_s"])}, wire {Fmt.Percent(v["catchup_wire_ratio"])} of the table");
        return v;
    }

    /// <summary>
    /// The managed heap after full compacting collections, once two in a row 200 ms apart agree within 1 % (what
    /// earlier runs in this process left behind is released by then), or after 5 s.
    /// </summary>
    public static async Task<long> StableHeapAsync()
    {
        Collect();
        long last = GC.GetTotalMemory(true);
        for (int i = 0; i < 25; i++)
        {
            await Task.Delay(200);
            Collect();
            long now = GC.GetTotalMemory(true);
            if (Math.Abs(now - last) <= last / 100) return now;
            last = now;
        }
        return last;
    }

    public static void Collect()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
    }
}
