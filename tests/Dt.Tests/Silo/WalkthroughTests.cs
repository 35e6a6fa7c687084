using System.Collections.Concurrent;
using System.Text.Json;
using Dt.Client;
using Xunit;

namespace Dt.Tests.Silo;

/// <summary>The README's three-node walkthrough, with real silo processes, the `dt` CLI and DtClient.</summary>
public sealed class WalkthroughTests
{
    private static JsonElement Json(string s) => JsonDocument.Parse(s).RootElement.Clone();

    [Fact]
    public async Task Master_and_two_nodes_add_watch_kill_one_remove_restart_it_and_converge()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dirs = new TempDirs();

        // 1. A master on the defaults: it generates the network's keys and prints how a second node joins.
        await using var master = await SiloProcess.StartAsync("master", dirs.New("master"));
        string[] join = JoinCommand.From(master.Process);
        Assert.Contains(join, a => a.StartsWith("--Dt:Key=", StringComparison.Ordinal));
        Assert.Contains(join, a => a.StartsWith("--Dt:TrustedMasterKeys:0=", StringComparison.Ordinal));
        Assert.Contains(join, a => a.StartsWith("--Dt:Peers:0=127.0.0.1:", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
            foreach (var key in new[] { "network.key", "master.key" })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(master.DataDir, key)));

        // 2. Two more nodes, joined with exactly what the master printed.
        var starting = new[] { "node2", "node3" }.Select(n => SiloProcess.StartAsync(n, dirs.New(n), join)).ToList();
        await using var node2 = await starting[0];
        await using var node3 = await starting[1];
        await Task.WhenAll(node2.WaitHealthyAsync(), node3.WaitHealthyAsync());

        // 3. Watch node 2 through DtClient while the master adds objects through the CLI.
        using var client2 = node2.Client();
        var seen = new ConcurrentQueue<DtEvent>();
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watch = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in client2.GetTable("walk").Subscribe(new EventSubscription(IncludeExisting: true), watching.Token))
                    seen.Enqueue(e);
            }
            catch (OperationCanceledException) { }
        }, ct);

        string h1 = await Cli.OkAsync(master.Api, null, "add", "--table", "walk", """{"name":"first"}""");
        string file = Path.Combine(dirs.New("input"), "second.json");
        await File.WriteAllTextAsync(file, """{"name":"second","tags":["a","b"]}""", ct);
        string h2 = await Cli.OkAsync(master.Api, null, "add", "--table", "walk", "@" + file);
        await Eventually.Until(() => Added(seen, h1) && Added(seen, h2), "node 2's watcher saw both objects added", polling: Polling.Node);
        await WaitCountAsync(node3, "walk", 2);

        // 4. Node 3 dies; meanwhile the master removes one object and adds another.
        node3.Process.Kill();
        await node3.Process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal($"removed {h1}", await Cli.OkAsync(master.Api, null, "remove", "--table", "walk", h1));
        using var masterClient = master.Client();
        string h3 = await masterClient.GetTable("walk").AddObject(Json("""{"name":"third"}"""));
        await Eventually.Until(() => seen.Any(e => e.Type == DtEventTypes.ObjectRemoved && e.Hash == h1) && Added(seen, h3),
            "node 2's watcher saw the removal and the third object", polling: Polling.Node);

        // 5. Node 3 comes back with what it had on disk and converges: h1 gone, h3 there, digests equal everywhere.
        await node3.RestartAsync();
        await node3.WaitHealthyAsync();
        using var client3 = node3.Client();
        using var client2b = node2.Client();
        await Eventually.Until(async () =>
        {
            var digests = await Task.WhenAll(masterClient.GetTable("walk").GetSummary(), client2b.GetTable("walk").GetSummary(), client3.GetTable("walk").GetSummary());
            return digests.All(d => d == digests[0]) && digests[0].Count == 2;
        }, "the three nodes report the same digest for 'walk'", polling: Polling.Node);

        var listed = (await Cli.OkAsync(node3.Api, null, "list", "--table", "walk")).Split('\n')
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("hash").GetString()).Order().ToList();
        Assert.Equal(new[] { h2, h3 }.Order(), listed);
        Assert.Equal("""{"name":"third"}""", await Cli.OkAsync(node3.Api, null, "get", "--table", "walk", h3));

        // 6. The master's own history, replayed by `dt watch`: added, added, removed, added.
        var history = (await Cli.OkAsync(master.Api, null, "watch", "--table", "walk", "--after", "0", "--count", "4")).Split('\n')
            .Select(l => JsonSerializer.Deserialize(l, DtJsonContext.Default.DtEvent)!).ToList();
        Assert.Equal([(DtEventTypes.ObjectAdded, h1), (DtEventTypes.ObjectAdded, h2), (DtEventTypes.ObjectRemoved, h1), (DtEventTypes.ObjectAdded, h3)],
            history.Select(e => (e.Type, e.Hash!)));

        string status = await Cli.OkAsync(node3.Api, null, "status");
        Assert.Contains("walk  2 objects", status);
        Assert.DoesNotContain("peers     0", status);

        // 7. SIGTERM stops every silo cleanly.
        watching.Cancel();
        await watch;
        if (!OperatingSystem.IsWindows())
        {
            foreach (var s in new[] { master, node2, node3 }) s.Process.Terminate();
            foreach (var s in new[] { master, node2, node3 })
            {
                Assert.Equal(0, await s.Process.WaitForExitAsync(TimeSpan.FromSeconds(15)));
                Assert.Contains("Dt silo stopped", s.Process.Stdout);
            }
        }
    }

    private static bool Added(IEnumerable<DtEvent> events, string hash) => events.Any(e => e.Type == DtEventTypes.ObjectAdded && e.Hash == hash);

    private static async Task WaitCountAsync(SiloProcess silo, string table, long count)
    {
        using var client = silo.Client();
        await Eventually.Until(async () => (await client.GetTable(table).GetSummary()).Count == count, $"{silo.Name} holds {count} objects in '{table}'", polling: Polling.Node);
    }
}
