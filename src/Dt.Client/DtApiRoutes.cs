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

    /// <summary>Name of the SSE event that marks a stream as caught up (data: <see cref="EventStreamReady"/>).</summary>
    public const string ReadyEvent = "dt-ready";

    /// <summary>Name of the SSE event that ends a stream with a problem (data: <see cref="DtProblem"/>).</summary>
    public const string ErrorEvent = "dt-error";

    public static string Table(string table) => $"{Tables}/{Segment(table)}";

    public static string Objects(string table) => $"{Table(table)}/objects";

    public static string ObjectsBatch(string table) => $"{Table(table)}/objects:batch";

    public static string ObjectsRemove(string table) => $"{Table(table)}/objects:remove";

    public static string Object(string table, string hash) => $"{Objects(table)}/{Segment(hash)}";

    /// <summary>The DNS routes (a silo with Dns:Enabled; see docs/API.md): zones, one zone, its records, lookups.</summary>
    public const string DnsZones = "/v1/dns/zones";

    public const string DnsLookup = "/v1/dns/lookup";

    public static string DnsZone(string zone) => $"{DnsZones}/{Segment(zone)}";

    public static string DnsRecords(string zone) => $"{DnsZone(zone)}/records";

    public static string Segment(string value) => Uri.EscapeDataString(value);
}
