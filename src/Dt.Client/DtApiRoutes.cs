namespace Dt.Client;

/// <summary>
/// Paths of the silo's HTTP API. Table names may contain '/', so they travel percent-encoded as one path segment
/// (the silo decodes "%2F" itself: ASP.NET Core leaves it encoded in route values).
/// </summary>
public static class DtApiRoutes
{
    public const string Health = "/healthz";
    public const string Node = "/v1/node";
    public const string Tables = "/v1/tables";
    public const string Messages = "/v1/messages";
    public const string Events = "/v1/events";

    /// <summary>Prometheus scraping endpoint (text format), guarded like /v1.</summary>
    public const string Metrics = "/metrics";

    /// <summary>Name of the SSE event that marks a stream as caught up (data: <see cref="EventStreamReady"/>).</summary>
    public const string ReadyEvent = "dt-ready";

    /// <summary>Name of the SSE event that ends a stream with a problem (data: <see cref="DtProblem"/>).</summary>
    public const string ErrorEvent = "dt-error";

    public static string Table(string table) => $"{Tables}/{Segment(table)}";

    public static string Objects(string table) => $"{Table(table)}/objects";

    public static string ObjectsBatch(string table) => $"{Table(table)}/objects:batch";

    public static string ObjectsIngest(string table) => $"{Table(table)}/objects:ingest";

    public static string ObjectsRemove(string table) => $"{Table(table)}/objects:remove";

    public static string Object(string table, string hash) => $"{Objects(table)}/{Segment(hash)}";

    /// <summary>The DNS routes (a silo with Dns:Enabled; see docs/API.md): zones, one zone, its records, lookups.</summary>
    public const string DnsZones = "/v1/dns/zones";

    public const string DnsLookup = "/v1/dns/lookup";

    public static string DnsZone(string zone) => $"{DnsZones}/{Segment(zone)}";

    public static string DnsRecords(string zone) => $"{DnsZone(zone)}/records";

    /// <summary>The gossip routes (docs/API.md, "Gossip state, event bus and shared maps"). Keys, peers, event and map
    /// names travel percent-encoded as one path segment each (the silo decodes "%2F" itself).</summary>
    public const string State = "/v1/state";

    public const string StatePeers = "/v1/state/peers";

    public const string Hear = "/v1/hear";
    public const string HearLasting = "/v1/hear/lasting";

    public const string Maps = "/v1/maps";

    public static string StateKey(string key) => $"{State}/{Segment(key)}";

    public static string StatePeer(string peer) => $"{StatePeers}/{Segment(peer)}";

    public static string StatePeerKeys(string peer) => $"{StatePeer(peer)}/keys";

    public static string StatePeerKey(string peer, string key) => $"{StatePeer(peer)}/{Segment(key)}";

    public static string Say(string eventName) => $"/v1/say/{Segment(eventName)}";

    public static string Map(string name) => $"{Maps}/{Segment(name)}";

    public static string MapKey(string name, string key) => $"{Map(name)}/{Segment(key)}";

    public static string MapWatch(string name) => $"{Map(name)}/watch";

    public static string Segment(string value) => Uri.EscapeDataString(value);
}
