using System.Text.Json;
using Orleans;

namespace Dt;

/// <summary>
/// Gossip state, membership and the say/hear event bus of the node the caller is attached to (key "local").
/// Every node owns a set of keys that every node learns by anti-entropy; peers are named by their gossip name (by
/// default their node id). Patterns: <c>*</c> matches any run of characters, <c>?</c> one character.
/// </summary>
public interface IGossipGrain : IGrainWithStringKey
{
    /// <summary>This node as a gossip member: name, generation, version, heartbeat, key and peer counts.</summary>
    Task<GossipInfo> GetInfo();

    /// <summary>Sets one of this node's keys to any JSON value, optionally for a limited time (the key then expires on
    /// every node, with a <c>key_expired</c> event). Returns the key's new version.</summary>
    Task<long> Set(string key, JsonElement value, long? ttlMilliseconds = null);

    /// <summary>Deletes one of this node's keys; false if it holds no such key.</summary>
    Task<bool> Delete(string key);

    /// <summary>One of this node's keys, or null.</summary>
    Task<StateEntry?> Get(string key);

    /// <summary>Every key of this node.</summary>
    Task<IReadOnlyList<StateEntry>> GetAll();

    /// <summary>A peer's key as this node holds it, or null. <paramref name="peer"/> is a gossip name or a node id.</summary>
    Task<StateEntry?> GetRemote(string peer, string key);

    /// <summary>The names of a peer's keys as this node holds them (empty if the peer is unknown).</summary>
    Task<IReadOnlyList<string>> GetRemoteKeys(string peer);

    /// <summary>Every key of a peer as this node holds it (empty if the peer is unknown).</summary>
    Task<IReadOnlyList<StateEntry>> GetRemoteEntries(string peer);

    /// <summary>Every peer this node knows (this node excluded), alive or dead.</summary>
    Task<IReadOnlyList<GossipPeer>> AllPeers();

    Task<IReadOnlyList<GossipPeer>> LivePeers();

    Task<IReadOnlyList<GossipPeer>> DeadPeers();

    /// <summary>
    /// Says an event to every node: each node hears it once while it lasts, also nodes that join meanwhile.
    /// <paramref name="durationMilliseconds"/>: null for the default (20 s). Returns the event id.
    /// </summary>
    Task<string> Say(string eventName, JsonElement data, long? durationMilliseconds = null);

    /// <summary>Events said from now on whose name matches the pattern (and, if asked, those still lasting).
    /// This node's own events only if <see cref="HearRequest.IncludeOwn"/>.</summary>
    IAsyncEnumerable<SaidEvent> Hear(HearRequest request, CancellationToken cancellationToken = default);

    /// <summary>The said events still lasting here that <paramref name="request"/> hears (what <see cref="Hear"/> with
    /// <see cref="HearRequest.IncludeActive"/> yields first).</summary>
    Task<IReadOnlyList<SaidEvent>> GetLasting(HearRequest request);

    /// <summary>The first event <see cref="Hear"/> would yield.</summary>
    Task<SaidEvent> HearOnce(HearRequest request, CancellationToken cancellationToken = default);

    /// <summary>Changes of node state (<c>state_set</c>, <c>state_deleted</c>, <c>key_expired</c>) whose key matches the pattern.</summary>
    IAsyncEnumerable<StateChange> Watch(StateWatch watch, CancellationToken cancellationToken = default);

    /// <summary>Membership changes: <c>peer_new</c>, <c>peer_up</c>, <c>peer_down</c>, <c>peer_forgotten</c>.</summary>
    IAsyncEnumerable<PeerChange> WatchPeers(CancellationToken cancellationToken = default);
}

/// <summary>
/// A shared map, keyed by its name (1 to 128 letters, digits, '.', '_', '-', ':' or '/'). Any node may set and
/// delete keys. Conflict rule: the write with the greatest (hybrid logical clock, writer id) wins on every node;
/// deletions are kept as tombstones for the retention period (7 days by default), so a node offline meanwhile still
/// deletes the key and never brings it back.
/// </summary>
public interface IMapGrain : IGrainWithStringKey
{
    Task<MapEntry?> Get(string key);

    /// <summary>Sets a key to any JSON value; returns the entry as written.</summary>
    Task<MapEntry> Set(string key, JsonElement value);

    /// <summary>Deletes a key; false if the map holds no such key here.</summary>
    Task<bool> Delete(string key);

    IAsyncEnumerable<MapEntry> List(CancellationToken cancellationToken = default);

    Task<MapInfo> GetInfo();

    /// <summary>Whether this node's copy is ready: its first sync with a peer finished, or it is the first node.</summary>
    Task<bool> IsReady();

    /// <summary>Completes once <see cref="IsReady"/> is true.</summary>
    Task WaitReady(CancellationToken cancellationToken = default);

    /// <summary>Changes of this map from now on (<c>map_set</c>, <c>map_delete</c>, <c>map_ready</c>), after the
    /// existing entries as <c>map_set</c> if <see cref="MapWatch.IncludeExisting"/>.</summary>
    IAsyncEnumerable<MapChange> Watch(MapWatch watch, CancellationToken cancellationToken = default);
}

public enum PeerStatus { Alive, Dead }

/// <summary>This node as a gossip member.</summary>
[GenerateSerializer, Immutable]
public sealed record GossipInfo(string Name, string NodeId, long Generation, long Version, long Heartbeat, int Keys, int LivePeers, int DeadPeers);

/// <summary>A peer as this node sees it. <see cref="Phi"/>: current suspicion level; <see cref="LastHeard"/>: when
/// its latest heartbeat was sent, as far as this node knows.</summary>
[GenerateSerializer, Immutable]
public sealed record GossipPeer(
    string Name,
    string NodeId,
    PeerStatus Status,
    long Generation,
    long Version,
    long Heartbeat,
    int Keys,
    double Phi,
    DateTimeOffset LastHeard);

/// <summary>A key of a node's state. <see cref="ExpiresAt"/>: when it expires here (null: no TTL).</summary>
[GenerateSerializer, Immutable]
public sealed record StateEntry(string Peer, string Key, JsonElement Value, long Version, DateTimeOffset? ExpiresAt);

/// <summary>A change of a node's state: <see cref="Type"/> is <c>state_set</c>, <c>state_deleted</c> or <c>key_expired</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record StateChange(string Type, string Peer, string Key, JsonElement? Value, long Version);

/// <summary>What to watch: keys matching <see cref="KeyPattern"/>, of one peer or all, this node's own keys if asked.</summary>
[GenerateSerializer, Immutable]
public sealed record StateWatch(string KeyPattern = "*", string? Peer = null, bool IncludeOwn = false);

/// <summary>A membership change: <see cref="Type"/> is <c>peer_new</c>, <c>peer_up</c>, <c>peer_down</c> or <c>peer_forgotten</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record PeerChange(string Type, string Peer, string NodeId, long Generation, bool Restarted);

/// <summary>An event of the say/hear bus, as heard on this node.</summary>
[GenerateSerializer, Immutable]
public sealed record SaidEvent(string Id, string Event, JsonElement Data, string Origin, string OriginNodeId, DateTimeOffset ExpiresAt);

/// <summary>What to hear: event names matching <see cref="Pattern"/>; this node's own events if <see cref="IncludeOwn"/>;
/// first the events still lasting on this node if <see cref="IncludeActive"/>.</summary>
[GenerateSerializer, Immutable]
public sealed record HearRequest(string Pattern = "*", bool IncludeOwn = false, bool IncludeActive = false);

/// <summary>A map entry. <see cref="Written"/>: the writer's clock; <see cref="Writer"/>: the writer's id.</summary>
[GenerateSerializer, Immutable]
public sealed record MapEntry(string Map, string Key, JsonElement Value, DateTimeOffset Written, string Writer);

/// <summary>A map on this node: live entries, readiness, and a digest equal on converged nodes.</summary>
[GenerateSerializer, Immutable]
public sealed record MapInfo(string Map, long Count, bool Ready, string Digest);

/// <summary>A change of a map: <see cref="Type"/> is <c>map_set</c> (with the value), <c>map_delete</c> (with the
/// old value) or <c>map_ready</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record MapChange(string Type, string Map, string? Key, JsonElement? Value, JsonElement? OldValue);

[GenerateSerializer, Immutable]
public sealed record MapWatch(bool IncludeExisting = false);

/// <summary>Event types the gossip modules publish into a node's event stream (JSON in <see cref="DtEvent.Value"/>).</summary>
public static class GossipEventTypes
{
    /// <summary>{ peer, key, value, version, ttlMs? }</summary>
    public const string StateSet = "state_set";
    /// <summary>{ peer, key, version, reason } (reason: deleted, restarted, reset)</summary>
    public const string StateDeleted = "state_deleted";
    /// <summary>{ peer, key, version }</summary>
    public const string KeyExpired = "key_expired";
    /// <summary>{ peer, nodeId, generation }</summary>
    public const string PeerNew = "peer_new";
    /// <summary>{ peer, nodeId, generation, restarted }</summary>
    public const string PeerUp = "peer_up";
    /// <summary>{ peer, nodeId, generation, phi }</summary>
    public const string PeerDown = "peer_down";
    /// <summary>{ peer, nodeId, generation }</summary>
    public const string PeerForgotten = "peer_forgotten";
    /// <summary>{ id, event, data, origin, originNodeId, expiresAt }</summary>
    public const string Say = "say";
    /// <summary>{ map, key, value, writer }</summary>
    public const string MapSet = "map_set";
    /// <summary>{ map, key, oldValue, writer }</summary>
    public const string MapDelete = "map_delete";
    /// <summary>{ map }</summary>
    public const string MapReady = "map_ready";
}
