using System.Text.Json;
using Dt.Client;
using Dt.Tests.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Dt.Tests.Orleans;

/// <summary>
/// Real Dt.Silo processes: two in one Orleans cluster through Redis clustering (a master and a follower), and a third
/// as a separate Dt node (its own Orleans cluster) linked to them over the Dt overlay; an Orleans client from
/// Dt.Client finds the cluster's gateways through the same Redis and drives it.
/// </summary>
public sealed class RedisClusterProcessTests
{
    [Fact]
    public async Task Two_Redis_clustered_silos_serve_an_Orleans_client_which_goes_on_through_one_when_the_other_is_killed()
    {
        using var redis = await RedisServer.StartAsync();
        using var dirs = new TempDirs();
        string clusterId = "dt-test-" + Guid.NewGuid().ToString("N")[..8];
        string[] redisClustering = ["--Cluster:Membership=Redis", $"--Cluster:Redis={redis.Configuration}", $"--Cluster:ClusterId={clusterId}"];

        await using var a = await SiloProcess.StartAsync("a", dirs.New("a"), [.. redisClustering, "--Dt:NodeName=a"]);
        string[] join = JoinCommand.From(a.Process);
        await using var b = await SiloProcess.StartAsync("b", dirs.New("b"), [.. join, .. redisClustering, "--Dt:NodeName=b"]);
        // A separate Dt node: its own Orleans cluster (localhost clustering), in the same Dt network.
        await using var c = await SiloProcess.StartAsync("c", dirs.New("c"), [.. join, "--Dt:NodeName=c"]);

        using var host = Host.CreateApplicationBuilder()
            .UseDtOrleansClient(o =>
            {
                o.Redis = redis.Configuration;
                o.ClusterId = clusterId;
            }).Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        var dt = (DtGrainFactory)host.Services.GetRequiredService<IDtGrainFactory>();

        // Both silos of the Redis cluster are reachable by node name; the separate node is not in this cluster.
        Assert.True((await dt.OnNode("a").GetNode().GetInfo()).IsMaster);
        Assert.False((await dt.OnNode("b").GetNode().GetInfo()).IsMaster);
        var notHere = await Assert.ThrowsAsync<DtException>(() => dt.OnNode("c").GetNode().GetInfo());
        Assert.Equal(DtErrorCodes.Unavailable, notHere.Code);

        // A write that names no node reaches the master; every node, in or out of the cluster, converges.
        var hashes = await dt.GetTable("redis").AddObjects(Enumerable.Range(0, 50).Select(i => JsonSerializer.SerializeToElement(new { i })).ToList());
        Assert.Equal(50, hashes.Count);
        var want = await dt.OnNode("a").GetTable("redis").GetSummary();
        using var cHttp = c.Client();
        await Eventually.Until(async () => (await dt.OnNode("b").GetTable("redis").GetSummary()).Digest == want.Digest
                                          && (await cHttp.GetTable("redis").GetSummary()).Digest == want.Digest,
            "b (through Orleans) and c (over HTTP) have the master's digest", polling: Polling.Node);

        // The master's process dies; the client's calls go on through b.
        a.Process.Kill();
        await a.Process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        // Until the membership declares a dead, calls routed to it fail with Orleans' own errors; then they go through b.
        await Eventually.Until(async () =>
        {
            try
            {
                return (await dt.OnNode("b").GetTable("redis").GetSummary()).Count == 50 && (await dt.GetTable("redis").GetSummary()).Count == 50;
            }
            catch (Exception e) when (e is global::Orleans.Runtime.OrleansException or TimeoutException)
            {
                return false;
            }
        }, "the client reads through b after a is killed", TimeSpan.FromSeconds(90), polling: Polling.Node);
        var unnamed = await dt.GetTable("redis").GetSummary(); // placed on b now: the only Dt silo left
        Assert.Equal(want.Digest, unnamed.Digest);
        var noMaster = await Assert.ThrowsAsync<DtException>(() => dt.GetTable("redis").AddObject(JsonSerializer.SerializeToElement(1)));
        Assert.Equal(DtErrorCodes.NotMaster, noMaster.Code);
        Assert.Contains("Dt:Master=true", noMaster.Message);
        await host.StopAsync(TestContext.Current.CancellationToken);
    }
}
