using System.Diagnostics;
using System.Text;
using Dt.Hosting;
using Dt.Security;

// Quick probe while the full scenario runner is being written.
int n = args.Length > 0 ? int.Parse(args[0]) : 100_000;
var key = NetworkKey.Generate().ToBase64();
var mk = MasterSigningKey.Generate();
var mo = DtOptions.ForTests(key, true, mk.ExportPrivateBase64());
var master = await DtNode.StartAsync(mo);
var sw = Stopwatch.StartNew();
long payload = 0;
for (int start = 0; start < n; start += 65536)
{
    var list = new List<byte[]>();
    for (int i = start; i < Math.Min(n, start + 65536); i++)
    {
        var b = Encoding.UTF8.GetBytes($"{{\"data\":\"{i:x8}-{new string((char)('a' + i % 26), 64)}\",\"id\":{i}}}");
        payload += b.Length;
        list.Add(b);
    }
    master.Replicator.Add("default", list);
}
Console.WriteLine($"load {n}: {sw.Elapsed.TotalSeconds:F2}s, payload {payload / 1e6:F1} MB, avg {payload / n} B");
var no = DtOptions.ForTests(key);
no.TrustedMasterKeys.Add(mk.PublicKeyBase64);
no.Peers.Add($"127.0.0.1:{master.Port}");
sw.Restart();
var node = await DtNode.StartAsync(no);
var mt = master.Replicator.Find("default")!;
string target; lock (mt.Sync) target = mt.LiveDigest;
long last = 0;
while (true)
{
    var t = node.Replicator.Find("default");
    if (t != null) { lock (t.Sync) if (t.LiveDigest == target) break; }
    await Task.Delay(5);
    if (sw.ElapsedMilliseconds / 250 != last) { last = sw.ElapsedMilliseconds / 250; var tt = node.Replicator.Find("default"); Console.WriteLine($"  {sw.Elapsed.TotalSeconds:F2}s {tt?.LiveCount} gc0={GC.CollectionCount(0)} gc1={GC.CollectionCount(1)} gc2={GC.CollectionCount(2)} pause={GC.GetTotalPauseDuration().TotalMilliseconds:F0}ms"); }
}
var link = node.Overlay.Links.Single();
long wire = link.BytesReceived + link.BytesSent;
Console.WriteLine($"initial sync: {sw.Elapsed.TotalSeconds:F2}s, wire {wire / 1e6:F1} MB = {(double)wire / payload:F2}x payload");
GC.Collect();
Console.WriteLine($"managed heap {GC.GetTotalMemory(true) / 1e6:F0} MB for 2 nodes; RSS {Process.GetCurrentProcess().WorkingSet64 / 1e6:F0} MB");
await node.DisposeAsync();
await master.DisposeAsync();
