using System.Text.Json;
using Dt.Tests.Silo;
using Xunit;

namespace Dt.Tests.Orleans;

public sealed class OrleansRestartTests
{
    [Fact]
    public async Task A_killed_silo_restarted_on_its_data_dir_rejoins_and_converges()
    {
        await using var kit = await DtClusterKit.StartAsync(3);
        var master = kit.Dt.OnNode(DtClusterKit.Master).GetTable("restart");
        var victim = kit.SiloNames.First(n => n != DtClusterKit.Master);
        var before = await master.AddObjects(Enumerable.Range(0, 100).Select(i => JsonSerializer.SerializeToElement(new { i })).ToList());
        await Eventually.Until(async () => (await kit.Dt.OnNode(victim).GetTable("restart").GetSummary()).Count == 100, "the victim holds the first 100", polling: Polling.Node);

        await kit.Cluster.KillSiloAsync(kit.Cluster.Silos.Single(s => s.Name == victim));
        // While it is down: more adds and a removal on the master; calls to the dead node fail with unavailable.
        await master.AddObjects(Enumerable.Range(100, 50).Select(i => JsonSerializer.SerializeToElement(new { i })).ToList());
        Assert.True(await master.RemoveObject(before[0]));
        await Eventually.Until(async () =>
        {
            try
            {
                await kit.Dt.OnNode(victim).GetTable("restart").GetSummary();
                return false;
            }
            catch (DtException e) when (e.Code == DtErrorCodes.Unavailable)
            {
                return true;
            }
            catch (Exception e) when (e is global::Orleans.Runtime.OrleansException or TimeoutException)
            {
                return false; // the membership has not declared the silo dead yet: calls still go to it and fail
            }
        }, "the cluster stops placing grains on the killed silo", polling: Polling.Node);

        await kit.RestartAsync(victim);
        var want = await master.GetSummary();
        Assert.Equal(149, want.Count);
        await Eventually.Until(async () =>
        {
            var s = await kit.Dt.OnNode(victim).GetTable("restart").GetSummary();
            return s.Count == want.Count && s.Digest == want.Digest;
        }, "the restarted node has the master's digest", polling: Polling.Node);
        // It came back from its disk, not only from the network: the node loaded the table before linking.
        Assert.Null(await kit.Dt.OnNode(victim).GetTable("restart").GetObject(before[0]));
    }
}
