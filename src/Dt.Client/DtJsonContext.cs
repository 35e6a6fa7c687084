using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dt.Client;

/// <summary>
/// The source-generated JSON contract of the silo's HTTP API, shared by the silo (writing) and the client (reading)
/// so both sides agree by construction: camelCase names, enums as strings, nulls left out. JSON payloads are
/// <see cref="JsonElement"/>s and pass through unchanged.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(NodeInfo))]
[JsonSerializable(typeof(NodeStats))]
[JsonSerializable(typeof(PeerInfo))]
[JsonSerializable(typeof(IReadOnlyList<PeerInfo>))]
[JsonSerializable(typeof(TableSummary))]
[JsonSerializable(typeof(IReadOnlyList<TableSummary>))]
[JsonSerializable(typeof(ObjectRecord))]
[JsonSerializable(typeof(DtMessage))]
[JsonSerializable(typeof(DtEvent))]
[JsonSerializable(typeof(EventSubscription))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(IReadOnlyList<JsonElement>))]
[JsonSerializable(typeof(HashResult))]
[JsonSerializable(typeof(HashesResult))]
[JsonSerializable(typeof(IngestResult))]
[JsonSerializable(typeof(MessageIdResult))]
[JsonSerializable(typeof(DtProblem))]
[JsonSerializable(typeof(EventStreamReady))]
[JsonSerializable(typeof(HealthReport))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(GossipInfo))]
[JsonSerializable(typeof(GossipPeer))]
[JsonSerializable(typeof(IReadOnlyList<GossipPeer>))]
[JsonSerializable(typeof(StateEntry))]
[JsonSerializable(typeof(IReadOnlyList<StateEntry>))]
[JsonSerializable(typeof(SaidEvent))]
[JsonSerializable(typeof(SaidEvent[]))]
[JsonSerializable(typeof(MapEntry))]
[JsonSerializable(typeof(IReadOnlyList<MapEntry>))]
[JsonSerializable(typeof(MapInfo))]
[JsonSerializable(typeof(GossipState))]
[JsonSerializable(typeof(StateSetResult))]
[JsonSerializable(typeof(SayResult))]
[JsonSerializable(typeof(MapState))]
[JsonSerializable(typeof(MapChange))]
public sealed partial class DtJsonContext : JsonSerializerContext;
