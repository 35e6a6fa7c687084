namespace Dt.Client;

/// <summary>Answer of <c>POST /v1/tables/{table}/objects</c>.</summary>
public sealed record HashResult(string Hash);

/// <summary>Answer of <c>POST /v1/tables/{table}/objects:batch</c>: the hashes in the order of the input.</summary>
public sealed record HashesResult(IReadOnlyList<string> Hashes);

/// <summary>Answer of <c>POST /v1/tables/{table}/objects:ingest</c>: the objects stored and the lines read (blank ones
/// included), all durable.</summary>
public sealed record IngestResult(long Objects, long Lines);

/// <summary>Answer of <c>POST /v1/messages</c>.</summary>
public sealed record MessageIdResult(string Id);

/// <summary>
/// An RFC 7807 problem document as the silo writes it; <see cref="Code"/> is the <see cref="DtException"/> code
/// (<see cref="DtErrorCodes"/>, or one of <see cref="DtApiErrors"/>'s HTTP-level codes). A refused NDJSON ingest
/// also says which line was refused (<see cref="Line"/>, when one was) and what was stored before it: the first
/// <see cref="StoredLines"/> lines, <see cref="StoredObjects"/> objects, durable.
/// </summary>
public sealed record DtProblem(string Type, string Title, int Status, string Detail, string Code,
    long? Line = null, long? StoredLines = null, long? StoredObjects = null);

/// <summary>
/// The <c>dt-ready</c> event of an event stream, sent once the stream has caught up with the node's state (after the
/// snapshot of existing objects, when one was asked for). <see cref="Fresh"/> is true when the stream started from
/// <see cref="LastEventId"/> rather than resuming: a client that reconnects resumes after that id.
/// </summary>
public sealed record EventStreamReady(string NodeId, long LastEventId, bool Fresh);

/// <summary>Answer of <c>GET /healthz</c>.</summary>
public sealed record HealthReport(string Status, string NodeId, int Links, string? Detail = null);

/// <summary>Answer of <c>GET /v1/state</c>: this node as a gossip member, and its keys.</summary>
public sealed record GossipState(GossipInfo Info, IReadOnlyList<StateEntry> Keys);

/// <summary>Answer of <c>PUT /v1/state/{key}</c>: the key's new version.</summary>
public sealed record StateSetResult(string Key, long Version);

/// <summary>Answer of <c>POST /v1/say/{event}</c>: the said event's id.</summary>
public sealed record SayResult(string Id);

/// <summary>Answer of <c>GET /v1/maps/{name}</c>: the map on this node (count, readiness, digest) and its entries.</summary>
public sealed record MapState(MapInfo Info, IReadOnlyList<MapEntry> Entries);
