using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Dt.Dns;
using Dt.Dns.Lookup;
using Dt.Dns.Zones;

namespace Dt.Cli.Commands;

/// <summary>
/// `dt dns ...`: the DNS zones of a silo with Dns:Enabled (through its /v1/dns routes, so the change runs in the
/// silo's DNS service and returns once that node serves it): zones, show, import, add, remove, delete, and the
/// world-valid lookup, which exits 1 when the nodes' answers differ.
/// </summary>
public static class DnsCommand
{
    public static Command Create(GlobalOptions g) => new("dns", "DNS zones served by the nodes (a silo with --Dns:Enabled=true; see docs/DNS.md)")
    {
        Zones(g), Show(g), Import(g), Add(g), Remove(g), Delete(g), Lookup(g),
    };

    private static Argument<string> ZoneArgument() => new("zone") { Description = "The zone, e.g. example.org (a trailing dot is optional)" };

    private static Command Zones(GlobalOptions g)
    {
        var command = new Command("zones", "List the zones: name, serial in service, record count");
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            var zones = await new DnsApi(client).ListZonesAsync(ct);
            foreach (var z in zones)
                await g.Console.Out.WriteLineAsync($"{z.Zone}  serial {z.Serial?.ToString(CultureInfo.InvariantCulture) ?? "- (no consistent version yet)"}  {z.Records} records");
            return 0;
        }));
        return command;
    }

    private static Command Show(GlobalOptions g)
    {
        var zone = ZoneArgument();
        var command = new Command("show", "Print a zone's records as a zone file (SOA first, with the serial in service)") { zone };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            foreach (var line in await new DnsApi(client).GetZoneAsync(parse.GetValue(zone)!, ct))
                await g.Console.Out.WriteLineAsync(line);
            return 0;
        }));
        return command;
    }

    private static Command Import(GlobalOptions g)
    {
        var zone = ZoneArgument();
        var file = new Argument<string>("file") { Description = "An RFC 1035 master file (names relative to the zone), or - for standard input", HelpName = "FILE|-" };
        var command = new Command("import", "Replace a zone's content with a zone file (master nodes only); prints the serial") { zone, file };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string path = parse.GetValue(file)!;
            string text;
            if (path == "-") text = await g.Console.In.ReadToEndAsync(ct);
            else if (!File.Exists(path)) throw new CliException($"file not found: {path}");
            else text = await File.ReadAllTextAsync(path, ct);
            await Print(g, await new DnsApi(client).ImportZoneAsync(parse.GetValue(zone)!, text, ct));
            return 0;
        }));
        return command;
    }

    private static Command Add(GlobalOptions g)
    {
        var zone = ZoneArgument();
        var record = new Argument<string>("record") { Description = "One record, relative to the zone: \"www 300 IN A 192.0.2.1\" (TTL and class optional; the TTL becomes the RRset's)" };
        var command = new Command("add", "Add a record to a zone (master nodes only); prints the new serial") { zone, record };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            await Print(g, await new DnsApi(client).AddRecordAsync(parse.GetValue(zone)!, parse.GetValue(record)!, ct));
            return 0;
        }));
        return command;
    }

    private static Command Remove(GlobalOptions g)
    {
        var zone = ZoneArgument();
        var record = new Argument<string>("record") { Description = "\"www A 192.0.2.1\" (that record), \"www A\" (the RRset) or \"www ANY\" (every record of the name)" };
        var command = new Command("remove", "Remove records from a zone (master nodes only); fails if none matches") { zone, record };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            await Print(g, await new DnsApi(client).RemoveRecordAsync(parse.GetValue(zone)!, parse.GetValue(record)!, ct));
            return 0;
        }));
        return command;
    }

    private static Command Delete(GlobalOptions g)
    {
        var zone = ZoneArgument();
        var command = new Command("delete", "Delete a zone with all its records (master nodes only)") { zone };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            string z = parse.GetValue(zone)!;
            await new DnsApi(client).DeleteZoneAsync(z, ct);
            await g.Console.Out.WriteLineAsync($"deleted zone {(z.EndsWith('.') ? z : z + ".")}");
            return 0;
        }));
        return command;
    }

    private static Command Lookup(GlobalOptions g)
    {
        var name = new Argument<string>("name") { Description = "The name to resolve, e.g. www.example.org" };
        var type = new Argument<string>("type") { Description = "Record type", DefaultValueFactory = _ => "A", Arity = ArgumentArity.ZeroOrOne };
        var expect = new Option<int?>("--expect") { Description = "Nodes expected to answer: stop waiting once this many have (default: wait the whole timeout)", HelpName = "N" };
        var timeout = new Option<double?>("--timeout") { Description = "Seconds to wait for the answers, 0.1 to 20 (default: the node's Dns:LookupTimeout + 1 s)", HelpName = "SECONDS" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON (GET /v1/dns/lookup)" };
        var command = new Command("lookup", "World-valid lookup: every node resolves the name with its own resolver; prints the answers grouped and the nodes that differ; exit 1 unless all agree")
        {
            name, type, expect, timeout, json,
        };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            if (parse.GetValue(expect) is < 1) throw new CliException("--expect must be at least 1");
            TimeSpan? wait = parse.GetValue(timeout) is { } s ? TimeSpan.FromSeconds(s) : null;
            var report = await new DnsApi(client).LookupAsync(parse.GetValue(name)!, parse.GetValue(type)!, parse.GetValue(expect), wait, ct);
            var o = g.Console.Out;
            if (parse.GetValue(json)) await o.WriteLineAsync(JsonSerializer.Serialize(report, DnsJsonContext.Default.WorldLookupReport));
            else await PrintReport(o, report);
            if (report.Consistent) return 0;
            await g.Console.Error.WriteLineAsync(report.Answers.Count == 0
                ? $"dt: no node answered the lookup of {report.Name} {report.Type} (nodes answer with the DNS service running and Dns:AnswerLookups)"
                : $"dt: the answers for {report.Name} {report.Type} differ; differing nodes: {string.Join(", ", report.DifferingNodes)}");
            return 1;
        }));
        return command;
    }

    private static async Task PrintReport(TextWriter o, WorldLookupReport report)
    {
        int n = report.Answers.Count;
        string verdict = report.Consistent ? "consistent" : n == 0 ? "no answer" : $"INCONSISTENT, {report.DifferingNodes.Count} differ";
        await o.WriteLineAsync($"{report.Name} {report.Type}: {n} node{(n == 1 ? "" : "s")} answered, {verdict}");
        var byNode = report.Answers.ToDictionary(a => a.NodeId, StringComparer.Ordinal);
        for (int i = 0; i < report.Groups.Count; i++)
        {
            var group = report.Groups[i];
            await o.WriteLineAsync($"group {i + 1}{(group.Majority ? " (majority)" : "")}: {group.Rcode}, {group.Nodes.Count} node{(group.Nodes.Count == 1 ? "" : "s")}");
            foreach (var record in group.Records) await o.WriteLineAsync($"  {record}");
            foreach (var node in group.Nodes)
            {
                var a = byNode.GetValueOrDefault(node);
                await o.WriteLineAsync($"  node {node} (resolver {a?.Resolver ?? "?"}){(a?.Error is { } e ? ": " + e : "")}");
            }
        }
        if (report.DifferingNodes.Count > 0) await o.WriteLineAsync($"differing nodes: {string.Join(", ", report.DifferingNodes)}");
    }

    private static Task Print(GlobalOptions g, DnsChangeResult r) =>
        g.Console.Out.WriteLineAsync(r.Changed
            ? $"{r.Zone} serial {r.Serial} ({r.Added} added, {r.Removed} removed)"
            : $"{r.Zone} serial {r.Serial} (unchanged)");
}
