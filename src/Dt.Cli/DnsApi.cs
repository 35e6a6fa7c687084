using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Dt.Client;
using Dt.Dns;
using Dt.Dns.Lookup;
using Dt.Dns.Zones;

namespace Dt.Cli;

/// <summary>
/// The silo's DNS routes (/v1/dns, docs/API.md) over a <see cref="DtClient"/>: the changes run in the silo's DNS
/// service (one implementation for the CLI and every HTTP user; serialized with nsupdate's; answered once served).
/// </summary>
public sealed class DnsApi(DtClient client)
{
    private static readonly MediaTypeHeaderValue PlainText = new("text/plain") { CharSet = "utf-8" };

    public Task<IReadOnlyList<DnsZoneInfo>> ListZonesAsync(CancellationToken ct = default) =>
        client.SendAsync(HttpMethod.Get, DtApiRoutes.DnsZones, null, DnsJsonContext.Default.IReadOnlyListDnsZoneInfo, ct);

    /// <summary>The zone's records in master-file form, SOA first.</summary>
    public Task<IReadOnlyList<string>> GetZoneAsync(string zone, CancellationToken ct = default) =>
        client.SendAsync(HttpMethod.Get, DtApiRoutes.DnsZone(zone), null, DnsJsonContext.Default.IReadOnlyListString, ct);

    public Task<DnsChangeResult> ImportZoneAsync(string zone, string zoneFile, CancellationToken ct = default) =>
        client.SendAsync(HttpMethod.Put, DtApiRoutes.DnsZone(zone), Text(zoneFile), DnsJsonContext.Default.DnsChangeResult, ct);

    public Task<DnsChangeResult> AddRecordAsync(string zone, string record, CancellationToken ct = default) =>
        client.SendAsync(HttpMethod.Post, DtApiRoutes.DnsRecords(zone), Text(record), DnsJsonContext.Default.DnsChangeResult, ct);

    public Task<DnsChangeResult> RemoveRecordAsync(string zone, string record, CancellationToken ct = default) =>
        client.SendAsync(HttpMethod.Delete, $"{DtApiRoutes.DnsRecords(zone)}?record={Uri.EscapeDataString(record)}", null, DnsJsonContext.Default.DnsChangeResult, ct);

    public Task DeleteZoneAsync(string zone, CancellationToken ct = default) =>
        client.SendAsync(HttpMethod.Delete, DtApiRoutes.DnsZone(zone), null, ct);

    public Task<WorldLookupReport> LookupAsync(string name, string type, int? expect, TimeSpan? timeout, CancellationToken ct = default)
    {
        var query = new StringBuilder($"{DtApiRoutes.DnsLookup}?name={Uri.EscapeDataString(name)}&type={Uri.EscapeDataString(type)}");
        if (expect is { } n) query.Append(CultureInfo.InvariantCulture, $"&expect={n}");
        if (timeout is { } t) query.Append(CultureInfo.InvariantCulture, $"&timeout={t.TotalSeconds:0.###}");
        return client.SendAsync(HttpMethod.Get, query.ToString(), null, DnsJsonContext.Default.WorldLookupReport, ct);
    }

    private static ByteArrayContent Text(string text)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        content.Headers.ContentType = PlainText;
        return content;
    }
}
