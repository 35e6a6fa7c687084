using Dt.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static Dt.Tests.Engine.TestCluster;

namespace Dt.Tests.Engine;

public sealed class MemoryTrimTests
{
    [Fact]
    public void A_trim_waits_for_the_threshold_and_a_quiet_tick_and_then_for_its_interval()
    {
        var time = new ManualTime();
        long takenIn = 0;
        int dropped = 0;
        var trim = new MemoryTrim(1000, () => takenIn, time, NullLogger.Instance, () => dropped++);

        takenIn = 999;
        trim.Tick();
        trim.Tick();
        Assert.Equal(0, trim.Trims); // quiet, but below the threshold

        takenIn = 5000;
        trim.Tick();
        Assert.Equal(0, trim.Trims); // over it, but bytes still arriving in this tick
        trim.Tick();
        Assert.Equal(1, trim.Trims); // a quiet tick after enough came in

        trim.Tick();
        Assert.Equal(1, trim.Trims); // nothing new since

        takenIn = 10_000;
        trim.Tick();
        trim.Tick();
        Assert.Equal(1, trim.Trims); // enough again, but inside the interval
        time.Advance(MemoryTrim.MinInterval);
        trim.Tick();
        Assert.Equal(2, trim.Trims);
        Assert.Equal(2, dropped); // the caches are let go before each trim's collection, and only then
    }

    [Fact]
    public void A_threshold_of_zero_never_trims()
    {
        long takenIn = 0;
        var trim = new MemoryTrim(0, () => takenIn, new ManualTime(), NullLogger.Instance);
        for (int i = 0; i < 5; i++)
        {
            takenIn += 1 << 30;
            trim.Tick();
            trim.Tick();
        }
        Assert.Equal(0, trim.Trims);
    }

    [Fact]
    public async Task A_node_that_synced_a_bulk_of_objects_trims_once_it_is_quiet()
    {
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true, configure: o => o.TrimMemoryAfterBytes = 1 << 20);
        var objects = Enumerable.Range(0, 20_000).Select(i => System.Text.Encoding.UTF8.GetBytes($$"""{"i":{{i}},"pad":"{{new string('x', 80)}}"}""")).ToList();
        master.Replicator.Add("default", objects);
        var node = await cluster.Start(peers: [master], configure: o => o.TrimMemoryAfterBytes = 1 << 20);
        await WaitConverged([master, node]);
        await Eventually.Until(() => node.MemoryTrims == 1 && master.MemoryTrims == 1, "both nodes return memory after the bulk, once");
        // The decoded-change lists the sync left in the pool went with it.
        Assert.Equal(0, node.Replicator.ChangeLists.Kept);
    }

    [Fact]
    public void A_negative_threshold_is_a_configuration_error()
    {
        var options = DtOptions.ForTests(Dt.Security.NetworkKey.Generate().ToBase64(), master: false, masterKey: null);
        options.TrimMemoryAfterBytes = -1;
        Assert.Contains(options.Validate(), e => e.Contains("Dt:TrimMemoryAfterBytes", StringComparison.Ordinal));
    }
}
