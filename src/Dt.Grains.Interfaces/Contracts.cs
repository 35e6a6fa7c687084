using System.Text.Json;
using Orleans;

namespace Dt;

/// <summary>
/// One node of a Dt network: its identity, its links and its tables. Keyed by node name (<see cref="DtGrainKeys.Node"/>;
/// in process and over HTTP, "local" is the node the caller is attached to).
/// </summary>
public interface INodeGrain : IGrainWithStringKey
{
    Task<NodeInfo> GetInfo();

    Task<IReadOnlyList<PeerInfo>> GetPeers();

    Task<IReadOnlyList<TableSummary>> GetTables();

    /// <summary>
    /// Every event of this node (started, object_added, object_removed, message_received, error), optionally
    /// for one table. Events with an id greater than <paramref name="afterEventId"/> still held by the node
    /// are replayed first, so a subscriber that reconnects with the last id it saw misses nothing still held.
    /// </summary>
    IAsyncEnumerable<DtEvent> SubscribeEvents(EventSubscription subscription, CancellationToken cancellationToken = default);
}

/// <summary>A replicated table of JSON objects, keyed by node and table name (<see cref="DtGrainKeys.Table"/>; in
/// process and over HTTP, by table name). Only master nodes may change it.</summary>
public interface ITableGrain : IGrainWithStringKey
{
    /// <summary>Adds an object (any JSON value) and returns its hash. Fails with <see cref="DtException"/> on a non-master.</summary>
    Task<string> AddObject(JsonElement value);

    /// <summary>Adds many objects in one change; returns their hashes in order.</summary>
    Task<IReadOnlyList<string>> AddObjects(IReadOnlyList<JsonElement> values);

    /// <summary>
    /// The bulk path: adds many objects given as UTF-8 JSON text, one value per array, in one change; returns their
    /// hashes in order (the same as <see cref="AddObjects"/> gives for equal values). The node canonicalizes each
    /// straight from its bytes, with no JSON document per object. All or nothing: a value that is not exactly one
    /// valid JSON value fails the call with <c>invalid_argument</c> naming its index, and nothing is added.
    /// </summary>
    Task<IReadOnlyList<string>> AddObjectsUtf8(IReadOnlyList<byte[]> values);

    /// <summary>Removes the object with this hash; false if the table does not hold it. Master only.</summary>
    Task<bool> RemoveObject(string hash);

    /// <summary>Removes the object equal to this value; false if the table does not hold it. Master only.</summary>
    Task<bool> RemoveObjectByValue(JsonElement value);

    Task<ObjectRecord?> GetObject(string hash);

    IAsyncEnumerable<ObjectRecord> ListObjects(CancellationToken cancellationToken = default);

    Task<TableSummary> GetSummary();

    /// <summary>This table's events; see <see cref="INodeGrain.SubscribeEvents"/>.</summary>
    IAsyncEnumerable<DtEvent> Subscribe(EventSubscription subscription, CancellationToken cancellationToken = default);
}

/// <summary>Broadcast messages: sent from any node to every node online at the time, once each.</summary>
public interface IMessageStream : IGrainWithStringKey
{
    /// <summary>Sends any JSON value to every online node; returns the message id.</summary>
    Task<string> Send(JsonElement message);

    /// <summary>Messages received by this node from now on (also those it sent itself).</summary>
    IAsyncEnumerable<DtMessage> Subscribe(CancellationToken cancellationToken = default);
}

/// <summary>Resolves a node's grains by name; the in-process node, the HTTP client (<c>DtClient</c>) and the Orleans
/// factory (<see cref="DtGrainFactory"/>) implement it.</summary>
public interface IDtGrainFactory
{
    INodeGrain GetNode(string key = "local");

    ITableGrain GetTable(string table = "default");

    IMessageStream GetMessageStream(string key = "default");

    /// <summary>Gossip state, membership and the say/hear bus of the node (docs/GOSSIP.md).</summary>
    IGossipGrain GetGossip(string key = "local");

    /// <summary>A shared map by name (docs/GOSSIP.md).</summary>
    IMapGrain GetMap(string name);
}
