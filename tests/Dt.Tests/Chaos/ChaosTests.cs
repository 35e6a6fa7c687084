using System.Text.Json;
using Dt.Client;
using Dt.Tests.Silo;
using Xunit;

namespace Dt.Tests.Chaos;

/// <summary>
/// A master and four real Dt.Silo processes; a writer adds and removes continuously while nodes are killed with
/// SIGKILL and restarted at random, also in the middle of their initial sync. At the end every node's digest equals
/// the master's, and the master holds exactly the acknowledged adds minus the acknowledged removals.
/// </summary>
public sealed class ChaosTests
{
    // A fixed number of kills, not a time window: a loaded machine makes the run longer, never red.
    private const int Kills = 6;

    [Fact]
    public async Task Nodes_killed_and_restarted_at_random_under_a_writer_end_with_the_masters_state()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper;
        using var dirs = new TempDirs();
        await using var master = await SiloProcess.StartAsync("master", dirs.New("master"));
        using var writerClient = master.Client();
        var table = writerClient.GetTable("chaos");

        // Enough objects that a joining or restarted node is still syncing when it is killed.
        var live = new HashSet<string>();
        for (int b = 0; b < 4; b++)
            foreach (var h in await table.AddObjects([.. Enumerable.Range(b * 5000, 5000).Select(i => Json($$"""{"seed":{{i}},"pad":"{{new string('s', 60)}}"}"""))]))
                live.Add(h);

        string[] join = JoinCommand.From(master.Process);
        var nodes = new List<SiloProcess>();
        try
        {
            for (int i = 0; i < 4; i++) nodes.Add(await SiloProcess.StartAsync($"node{i}", dirs.New($"node{i}"), join));

            using var stop = new CancellationTokenSource();
            int adds = 0, removes = 0, kills = 0, failedWrites = 0;
            var writer = Task.Run(async () =>
            {
                var rng = new Random(1);
                for (int i = 0; !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        if (i % 4 == 3 && live.Count > 0)
                        {
                            string victim = live.ElementAt(rng.Next(live.Count));
                            if (await table.RemoveObject(victim)) { live.Remove(victim); removes++; }
                        }
                        else
                        {
                            var hashes = await table.AddObjects([.. Enumerable.Range(0, rng.Next(1, 20)).Select(k => Json($$"""{"w":{{i}},"k":{{k}}}"""))]);
                            foreach (var h in hashes) live.Add(h);
                            adds += hashes.Count;
                        }
                    }
                    catch (HttpRequestException) { failedWrites++; } // not acknowledged: not counted either way
                }
            }, ct);
            var killer = Task.Run(async () =>
            {
                var rng = new Random(2);
                while (kills < Kills)
                {
                    var victim = nodes[rng.Next(nodes.Count)];
                    victim.Process.Kill();
                    await victim.Process.WaitForExitAsync(TimeSpan.FromSeconds(10));
                    kills++;
                    await Task.Delay(rng.Next(50, 400), ct);
                    await victim.RestartAsync();
                    // Sometimes kill it again at once, while it reconciles what it missed.
                    if (rng.Next(3) == 0) continue;
                    await Task.Delay(rng.Next(100, 600), ct);
                }
                await stop.CancelAsync(); // the writer stops with the last restart
            }, ct);
            await Task.WhenAll(writer, killer);

            var expected = await Summary(master);
            output?.WriteLine($"{adds} adds, {removes} removals acknowledged ({failedWrites} writes failed), {kills} kills; master: {expected.Count} objects, digest {expected.Digest}");
            await Eventually.Until(async () =>
            {
                foreach (var n in nodes)
                    if (await Summary(n) != expected) return false;
                return true;
            }, "every node's digest equals the master's", TimeSpan.FromSeconds(90), polling: Polling.Node);
            foreach (var n in nodes) output?.WriteLine($"{n.Name}: {await Summary(n)}");

            var held = new HashSet<string>();
            await foreach (var o in table.ListObjects(ct)) held.Add(o.Hash);
            Assert.Equal(live.Count, held.Count);
            Assert.True(live.SetEquals(held), "the master holds exactly the acknowledged adds minus the acknowledged removals");
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    private static async Task<TableSummary> Summary(SiloProcess silo)
    {
        using var client = silo.Client();
        return await client.GetTable("chaos").GetSummary();
    }

    private static JsonElement Json(string s) => JsonDocument.Parse(s).RootElement.Clone();
}
