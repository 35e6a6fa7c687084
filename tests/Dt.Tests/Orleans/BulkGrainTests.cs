using System.Text;
using System.Text.Json;
using Dt.Model;
using Xunit;

namespace Dt.Tests.Orleans;

/// <summary>The grain's raw-UTF-8 bulk path (<see cref="ITableGrain.AddObjectsUtf8"/>) on a TestingHost cluster of
/// three Dt silos: same hashes as the JsonElement path, replication to every silo, all-or-nothing on a bad value.</summary>
public sealed class BulkGrainTests(OrleansClusterFixture fixture) : IClassFixture<OrleansClusterFixture>
{
    private DtClusterKit Kit => fixture.Kit;

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task Raw_values_get_the_hashes_of_single_adds_and_reach_every_silo()
    {
        // Written differently (key order, whitespace, number forms, escapes) from the values added one by one.
        string[] raw = ["""{ "b" : 1.0, "a" : [ 1e2, -0 ] }""", "\"caf\\u00e9\"", """{"z":{"y":2,"x":1},"n":null}""", "12345678901234567890"];
        string[] plain = ["""{"a":[100,0],"b":1}""", "\"café\"", """{"n":null,"z":{"x":1,"y":2}}""", "12345678901234567000"];
        var table = Kit.Dt.GetTable("bulk-grain"); // names no node: a master's silo carries it out
        var hashes = await table.AddObjectsUtf8(raw.Select(Utf8).ToList());

        var single = new List<string>();
        foreach (var p in plain) single.Add(await Kit.Dt.GetTable("bulk-grain-single").AddObject(JsonDocument.Parse(p).RootElement.Clone()));
        Assert.Equal(single, hashes);
        Assert.Equal(raw.Select(r => { using var d = JsonDocument.Parse(r); return CanonicalJson.HashHex(d.RootElement); }), hashes);

        // Many at once, and every silo converges on the master's digest.
        var many = Enumerable.Range(0, 3000).Select(i => Utf8($$"""{"id":{{i}},"name":"object {{i}}"}""")).ToList();
        Assert.Equal(3000, (await table.AddObjectsUtf8(many)).Count);
        var master = await Kit.Dt.OnNode(DtClusterKit.Master).GetTable("bulk-grain").GetSummary();
        Assert.Equal(3004, master.Count);
        await Eventually.Until(async () =>
        {
            foreach (var silo in Kit.SiloNames)
                if (await Kit.Dt.OnNode(silo).GetTable("bulk-grain").GetSummary() != master) return false;
            return true;
        }, "every silo holds the bulk-added objects with the master's digest", polling: Polling.Node);
    }

    [Fact]
    public async Task A_bad_value_refuses_the_whole_call_naming_its_index()
    {
        var table = Kit.Dt.OnNode(DtClusterKit.Master).GetTable("bulk-grain-bad");
        await table.AddObjectsUtf8([Utf8("1")]);
        foreach (var bad in new[] { "{broken", "{\"a\":1,\"a\":2}", "1 2", "", "1e400" })
        {
            var e = await Assert.ThrowsAsync<DtException>(() => table.AddObjectsUtf8([Utf8("\"ok\""), Utf8("[2]"), Utf8(bad)]));
            Assert.Equal(DtErrorCodes.InvalidArgument, e.Code);
            Assert.Contains("value 2 of the batch", e.Message);
        }
        Assert.Equal(1, (await table.GetSummary()).Count); // nothing of the refused calls was added
    }

    [Fact]
    public async Task A_raw_value_over_the_object_cap_is_too_large()
    {
        var table = Kit.Dt.OnNode(DtClusterKit.Master).GetTable("bulk-grain-big");
        int cap = Kit.Node(DtClusterKit.Master).Options.MaxObjectBytes;
        var e = await Assert.ThrowsAsync<DtException>(() => table.AddObjectsUtf8([Utf8("1"), Utf8("\"" + new string('x', cap) + "\"")]));
        Assert.Equal(DtErrorCodes.TooLarge, e.Code);
        Assert.Equal(0, (await table.GetSummary()).Count);
    }
}
