using System.Text.Json;
using System.Text.Json.Serialization;
using Dt.Dns.Lookup;
using Dt.Dns.Zones;

namespace Dt.Dns;

/// <summary>Source-generated JSON for the DNS results an HTTP API returns (add it to the host's resolver chain).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(DnsChangeResult))]
[JsonSerializable(typeof(DnsZoneInfo))]
[JsonSerializable(typeof(IReadOnlyList<DnsZoneInfo>))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(WorldLookupReport))]
public sealed partial class DnsJsonContext : JsonSerializerContext;
