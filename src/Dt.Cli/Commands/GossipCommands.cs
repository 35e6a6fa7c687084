using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Dt.Client;

namespace Dt.Cli.Commands;

/// <summary>
/// The gossip commands (docs/GOSSIP.md): `dt state set/get/peers` (this node's gossip state and membership),
/// `dt map set/get/delete/list/watch` (shared maps), `dt say` and `dt hear` (the event bus).
/// </summary>
public static class GossipCommands
{
    // ---- dt state --------------------------------------------------------------------------------------------------

    public static Command State(GlobalOptions g) => new("state", "This node's gossip state (keys every node learns) and its peers")
    {
        StateSet(g), StateGet(g), StatePeers(g),
    };

    private static Command StateSet(GlobalOptions g)
    {
        var key = new Argument<string>("key") { Description = "The key (one of this node's)" };
        var value = JsonArgument("value", "The value");
        var ttl = new Option<long?>("--ttl") { Description = "Expire the key on every node after this many milliseconds", HelpName = "MS" };
        var command = new Command("set", "Set one of this node's keys to a JSON value; prints the key's new version") { key, value, ttl };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            if (parse.GetValue(ttl) is <= 0) throw new CliException("--ttl must be at least 1 (milliseconds)");
            using var doc = JsonInput.Read(parse.GetValue(value)!, g.Console);
            long version = await client.GetGossip().Set(parse.GetValue(key)!, doc.RootElement, parse.GetValue(ttl));
            await g.Console.Out.WriteLineAsync(version.ToString(CultureInfo.InvariantCulture));
            return 0;
        }));
        return command;
    }

    private static Command StateGet(GlobalOptions g)
    {
        var key = new Argument<string>("key") { Description = "The key" };
        var peer = new Option<string?>("--peer", "-p") { Description = "A peer's key as this node holds it (gossip name or node id); default: this node's", HelpName = "PEER" };
        var command = new Command("get", "Print a key's value (this node's, or a peer's with --peer)") { peer, key };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string k = parse.GetValue(key)!;
            string? p = parse.GetValue(peer);
            var gossip = client.GetGossip();
            var entry = (p is null ? await gossip.Get(k) : await gossip.GetRemote(p, k))
                        ?? throw new DtException(DtApiErrors.NotFound, p is null ? $"this node holds no key '{k}'" : $"this node knows no key '{k}' of peer '{p}'");
            await g.Console.Out.WriteLineAsync(JsonSerializer.Serialize(entry.Value, DtJsonContext.Default.JsonElement));
            return 0;
        }));
        return command;
    }

    private static Command StatePeers(GlobalOptions g)
    {
        var live = new Option<bool>("--live") { Description = "Only live peers" };
        var dead = new Option<bool>("--dead") { Description = "Only dead peers" };
        var command = new Command("peers", "List the peers this node knows: name, status, node id, keys, suspicion (phi)") { live, dead };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            bool l = parse.GetValue(live), d = parse.GetValue(dead);
            if (l && d) throw new CliException("--live and --dead exclude each other (neither lists every peer)");
            var gossip = client.GetGossip();
            var peers = l ? await gossip.LivePeers() : d ? await gossip.DeadPeers() : await gossip.AllPeers();
            foreach (var p in peers)
                await g.Console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{p.Name}  {(p.Status == PeerStatus.Alive ? "alive" : "dead")}  {p.NodeId}  {p.Keys} keys  phi {p.Phi:0.00}"));
            return 0;
        }));
        return command;
    }

    // ---- dt map ----------------------------------------------------------------------------------------------------

    public static Command Map(GlobalOptions g) => new("map", "Shared maps: any node sets and deletes, last writer wins everywhere")
    {
        MapSet(g), MapGet(g), MapDelete(g), MapList(g), MapWatch(g),
    };

    private static Argument<string> MapName() => new("name") { Description = "The map's name (letters, digits, '.', '_', '-', ':' or '/')" };

    private static Command MapSet(GlobalOptions g)
    {
        var name = MapName();
        var key = new Argument<string>("key") { Description = "The key" };
        var value = JsonArgument("value", "The value");
        var command = new Command("set", "Set a key of a map to a JSON value; prints the entry as written") { name, key, value };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            using var doc = JsonInput.Read(parse.GetValue(value)!, g.Console);
            var entry = await client.GetMap(parse.GetValue(name)!).Set(parse.GetValue(key)!, doc.RootElement);
            await g.Console.Out.WriteLineAsync(JsonSerializer.Serialize(entry, DtJsonContext.Default.MapEntry));
            return 0;
        }));
        return command;
    }

    private static Command MapGet(GlobalOptions g)
    {
        var name = MapName();
        var key = new Argument<string>("key") { Description = "The key" };
        var command = new Command("get", "Print a key's value") { name, key };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string n = parse.GetValue(name)!, k = parse.GetValue(key)!;
            var entry = await client.GetMap(n).Get(k) ?? throw new DtException(DtApiErrors.NotFound, $"map '{n}' holds no key '{k}' here");
            await g.Console.Out.WriteLineAsync(JsonSerializer.Serialize(entry.Value, DtJsonContext.Default.JsonElement));
            return 0;
        }));
        return command;
    }

    private static Command MapDelete(GlobalOptions g)
    {
        var name = MapName();
        var key = new Argument<string>("key") { Description = "The key" };
        var command = new Command("delete", "Delete a key of a map (on every node); fails if the map holds no such key here") { name, key };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string n = parse.GetValue(name)!, k = parse.GetValue(key)!;
            if (!await client.GetMap(n).Delete(k)) throw new DtException(DtApiErrors.NotFound, $"map '{n}' holds no key '{k}' here");
            return 0;
        }));
        return command;
    }

    private static Command MapList(GlobalOptions g)
    {
        var name = MapName();
        var command = new Command("list", "Print every entry of a map as JSON lines {map, key, value, written, writer}") { name };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            await foreach (var e in client.GetMap(parse.GetValue(name)!).List(ct))
                await g.Console.Out.WriteLineAsync(JsonSerializer.Serialize(e, DtJsonContext.Default.MapEntry));
            return 0;
        }));
        return command;
    }

    private static Command MapWatch(GlobalOptions g)
    {
        var name = MapName();
        var existing = new Option<bool>("--existing") { Description = "First a map_set for every entry already held" };
        var count = CountOption();
        var command = new Command("watch", "Print a map's changes (map_set, map_delete, map_ready) as JSON lines until Ctrl-C (or N changes)")
        {
            name, existing, count,
        };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            int? limit = CheckCount(parse.GetValue(count));
            var changes = client.GetMap(parse.GetValue(name)!).Watch(new MapWatch(parse.GetValue(existing)), ct);
            await PrintAsync(g, changes, DtJsonContext.Default.MapChange, limit, ct);
            return 0;
        }));
        return command;
    }

    // ---- dt say / dt hear ------------------------------------------------------------------------------------------

    public static Command Say(GlobalOptions g)
    {
        var name = new Argument<string>("event") { Description = "The event's name (hearers match it with patterns like 'deploy.*')" };
        var data = JsonArgument("data", "The event's data");
        var duration = new Option<long?>("--duration") { Description = "How long the event lasts (nodes joining meanwhile still hear it once); default 20 s", HelpName = "MS" };
        var command = new Command("say", "Say an event to every node (each hears it once while it lasts); prints its id") { name, data, duration };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            if (parse.GetValue(duration) is <= 0) throw new CliException("--duration must be at least 1 (milliseconds)");
            using var doc = JsonInput.Read(parse.GetValue(data)!, g.Console);
            string id = await client.GetGossip().Say(parse.GetValue(name)!, doc.RootElement, parse.GetValue(duration));
            await g.Console.Out.WriteLineAsync(id);
            return 0;
        }));
        return command;
    }

    public static Command Hear(GlobalOptions g)
    {
        var pattern = new Argument<string>("pattern") { Description = "Event names to hear: '*' any run of characters, '?' one character", DefaultValueFactory = _ => "*" };
        var own = new Option<bool>("--own") { Description = "Also this node's own events" };
        var active = new Option<bool>("--active") { Description = "First the events still lasting on this node" };
        var count = CountOption();
        var command = new Command("hear", "Print said events as JSON lines {id, event, data, origin, originNodeId, expiresAt} until Ctrl-C (or N events)")
        {
            pattern, own, active, count,
        };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            int? limit = CheckCount(parse.GetValue(count));
            var events = client.GetGossip().Hear(new HearRequest(parse.GetValue(pattern)!, parse.GetValue(own), parse.GetValue(active)), ct);
            await PrintAsync(g, events, DtJsonContext.Default.SaidEvent, limit, ct);
            return 0;
        }));
        return command;
    }

    // ---- helpers ---------------------------------------------------------------------------------------------------

    private static Argument<string> JsonArgument(string name, string what) =>
        new(name) { Description = $"{what}: JSON text, @file, or - for standard input", HelpName = "JSON|@file|-" };

    private static Option<int?> CountOption() => new("--count", "-n") { Description = "Exit after this many", HelpName = "N" };

    private static int? CheckCount(int? count) => count is <= 0 ? throw new CliException("--count must be at least 1") : count;

    /// <summary>Prints a stream as JSON lines until Ctrl-C (the normal end of a watch) or <paramref name="limit"/> items.</summary>
    private static async Task PrintAsync<T>(GlobalOptions g, IAsyncEnumerable<T> items, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, int? limit, CancellationToken ct)
    {
        int seen = 0;
        try
        {
            await foreach (var item in items)
            {
                await g.Console.Out.WriteLineAsync(JsonSerializer.Serialize(item, type));
                await g.Console.Out.FlushAsync(ct);
                if (++seen == limit) break;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl-C is how a watch normally ends.
        }
    }
}
