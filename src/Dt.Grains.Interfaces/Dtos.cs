using System.Text.Json;
using Orleans;

namespace Dt;

/// <summary>A node: <see cref="NodeId"/> is new at every start; <see cref="Name"/> is its stable name (Dt:NodeName or
/// its silo's name), null when it has none. <see cref="Warnings"/>: what an operator must fix, one sentence each
/// (e.g. "degraded: dropping changes from untrusted master …"); empty when all is well.</summary>
[GenerateSerializer, Immutable]
public sealed record NodeInfo(
    string NodeId,
    bool IsMaster,
    string Network,
    IReadOnlyList<string> ListenEndpoints,
    IReadOnlyList<PeerInfo> Peers,
    IReadOnlyList<TableSummary> Tables,
    DateTimeOffset StartedAt,
    string? Name = null,
    IReadOnlyList<string>? Warnings = null,
    NodeStats? Stats = null);

/// <summary>
/// What an operator watches, counted since the node started (the same counts as the "Dt" meter's instruments, see
/// docs/API.md "Metrics"): traffic on links, connections to the peer port refused before they became links (by
/// reason: wrong_key, wrong_network, bad_proof, protocol, timeout, closed, rate_limited, blocked, inbound_limit),
/// address blocks, changes from peers applied and dropped (by reason: untrusted_signer, bad_signature, table_full),
/// broadcast messages delivered. <see cref="QueuedBytes"/> and <see cref="IpsBlockedNow"/> are the values now.
/// The by-reason maps hold only reasons seen.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record NodeStats(
    long LinksOpened,
    long LinksClosed,
    long BytesSent,
    long BytesReceived,
    long QueuedBytes,
    long HandshakesRefused,
    long IpBlocks,
    int IpsBlockedNow,
    long ChangesApplied,
    long ChangesDropped,
    long MessagesDelivered,
    IReadOnlyDictionary<string, long>? HandshakesRefusedByReason = null,
    IReadOnlyDictionary<string, long>? ChangesDroppedByReason = null);

public enum LinkDirection { Outbound, Inbound }

[GenerateSerializer, Immutable]
public sealed record PeerInfo(
    string NodeId,
    string RemoteEndpoint,
    LinkDirection Direction,
    bool IsPrimary,
    bool IsMaster,
    double? RttMs,
    int RttSamples,
    DateTimeOffset ConnectedAt);

/// <summary>Count and digest of a table. Converged nodes report equal digests.</summary>
[GenerateSerializer, Immutable]
public sealed record TableSummary(string Table, long Count, string Digest);

[GenerateSerializer, Immutable]
public sealed record ObjectRecord(string Hash, JsonElement Value);

[GenerateSerializer, Immutable]
public sealed record DtMessage(string Id, string Origin, DateTimeOffset SentAt, JsonElement Payload);

/// <summary>
/// What a subscriber wants: a table (null for all events of the node), where to resume, and whether to first get an
/// <c>object_added</c> for every object already held. <see cref="AfterEventId"/>: null for live events only; an event
/// id to replay every later event the node still holds (0 replays all it holds, from <c>started</c> on).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EventSubscription(string? Table = null, long? AfterEventId = null, bool IncludeExisting = false);

/// <summary>
/// An event of a node. <see cref="Id"/> grows by one per event on a node; 0 marks the synthetic
/// <c>object_added</c> events of <see cref="EventSubscription.IncludeExisting"/>. <see cref="Origin"/> is the node
/// (or address) a change, message or error came from; <see cref="MessageId"/> is set on <c>message_received</c>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record DtEvent(
    long Id,
    string Type,
    DateTimeOffset Time,
    string? Table = null,
    string? Hash = null,
    JsonElement? Value = null,
    string? Origin = null,
    string? Error = null,
    string? MessageId = null);

public static class DtEventTypes
{
    public const string Started = "started";
    public const string ObjectAdded = "object_added";
    public const string ObjectRemoved = "object_removed";
    public const string MessageReceived = "message_received";
    public const string Error = "error";
}

/// <summary>Error codes carried in <see cref="Exception.Data"/>["code"] of a <see cref="DtException"/>.</summary>
public static class DtErrorCodes
{
    public const string NotMaster = "not_master";
    public const string InvalidArgument = "invalid_argument";
    public const string TooLarge = "too_large";
    public const string LimitReached = "limit_reached";
    public const string SubscriberTooSlow = "subscriber_too_slow";
    public const string Unavailable = "unavailable";
}

/// <summary>A refused operation. What matters is in <see cref="Exception.Message"/> and <c>Data["code"]</c> (that is
/// what crosses to Orleans callers, once "Dt" is among the supported exception namespaces: <see cref="DtSerialization"/>).</summary>
public class DtException : Exception
{
    public DtException(string code, string message) : base(message) => Data["code"] = code;

    public DtException(string code, string message, Exception inner) : base(message, inner) => Data["code"] = code;

    public string Code => Data["code"] as string ?? "error";
}
