using System.CommandLine;
using System.Text.Json;
using Dt.Client;

namespace Dt.Cli.Commands;

/// <summary>`dt status`: the node, its peers and its tables.</summary>
public static class StatusCommand
{
    public static Command Create(GlobalOptions g)
    {
        var json = new Option<bool>("--json") { Description = "Print the node's information as JSON (GET /v1/node)" };
        var command = new Command("status", "Show the node: id, master flag, listen endpoints, peers with link state and latency, tables with counts and digests") { json };
        command.SetAction(g.Run(async (parse, client, ct) =>
        {
            var info = await client.GetNode().GetInfo();
            var o = g.Console.Out;
            if (parse.GetValue(json))
            {
                await o.WriteLineAsync(JsonSerializer.Serialize(info, DtJsonContext.Default.NodeInfo));
                return 0;
            }
            var up = DateTimeOffset.UtcNow - info.StartedAt;
            await o.WriteLineAsync($"node      {(info.Name is null ? info.NodeId : $"{info.Name} ({info.NodeId})")}{(info.IsMaster ? "  (master)" : "")}");
            await o.WriteLineAsync($"api       {client.BaseAddress}");
            await o.WriteLineAsync($"network   {info.Network}");
            await o.WriteLineAsync($"listening {(info.ListenEndpoints.Count == 0 ? "no (outbound only)" : string.Join(", ", info.ListenEndpoints))}");
            await o.WriteLineAsync($"started   {info.StartedAt:u} (up {Format(up)})");
            await o.WriteLineAsync($"peers     {info.Peers.Count}");
            foreach (var p in info.Peers)
            {
                var flags = new List<string> { p.Direction == LinkDirection.Outbound ? "outbound" : "inbound" };
                if (p.IsPrimary) flags.Add("primary");
                if (p.IsMaster) flags.Add("master");
                string rtt = p.RttMs is { } ms ? $"rtt {ms:0.###} ms ({p.RttSamples} samples)" : "rtt -";
                await o.WriteLineAsync($"  {p.NodeId}  {p.RemoteEndpoint}  {string.Join(' ', flags)}  {rtt}");
            }
            await o.WriteLineAsync($"tables    {info.Tables.Count}");
            foreach (var t in info.Tables)
                await o.WriteLineAsync($"  {t.Table}  {t.Count} objects  digest {t.Digest}");
            if (info.Stats is { } s)
                foreach (var line in StatsLines(s)) await o.WriteLineAsync(line);
            foreach (var w in info.Warnings ?? [])
                await o.WriteLineAsync($"warning   {w}");
            return 0;
        }));
        return command;
    }

    /// <summary>The node's counts since it started, three lines (docs/CLI.md shows them).</summary>
    public static IEnumerable<string> StatsLines(NodeStats s)
    {
        yield return $"traffic   sent {Bytes(s.BytesSent)}, received {Bytes(s.BytesReceived)}, queued {Bytes(s.QueuedBytes)}; links opened {s.LinksOpened:N0}, closed {s.LinksClosed:N0}";
        yield return $"refused   {s.HandshakesRefused:N0} connections{ByReason(s.HandshakesRefusedByReason)}; {s.IpsBlockedNow:N0} addresses blocked now, {s.IpBlocks:N0} blocks in all";
        yield return $"changes   applied {s.ChangesApplied:N0}, dropped {s.ChangesDropped:N0}{ByReason(s.ChangesDroppedByReason)}; messages delivered {s.MessagesDelivered:N0}";
    }

    private static string ByReason(IReadOnlyDictionary<string, long>? counts) =>
        counts is null || counts.Count == 0 ? "" : $" ({string.Join(", ", counts.Select(kv => $"{kv.Key} {kv.Value:N0}"))})";

    private static string Bytes(long n) => n switch
    {
        < 1024 => $"{n} B",
        < 1024 * 1024 => $"{n / 1024.0:0.#} KiB",
        < 1024L * 1024 * 1024 => $"{n / (1024.0 * 1024):0.#} MiB",
        _ => $"{n / (1024.0 * 1024 * 1024):0.##} GiB",
    };

    private static string Format(TimeSpan t) =>
        t.TotalDays >= 1 ? $"{(int)t.TotalDays}d {t.Hours}h" : t.TotalHours >= 1 ? $"{(int)t.TotalHours}h {t.Minutes}m" : $"{(int)t.TotalMinutes}m {t.Seconds}s";
}
