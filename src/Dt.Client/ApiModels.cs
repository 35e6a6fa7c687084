namespace Dt.Client;

/// <summary>Answer of <c>POST /v1/tables/{table}/objects</c>.</summary>
public sealed record HashResult(string Hash);

/// <summary>Answer of <c>POST /v1/tables/{table}/objects:batch</c>: the hashes in the order of the input.</summary>
public sealed record HashesResult(IReadOnlyList<string> Hashes);

/// <summary>Answer of <c>POST /v1/messages</c>.</summary>
public sealed record MessageIdResult(string Id);

/// <summary>
/// An RFC 7807 problem document as the silo writes it; <see cref="Code"/> is the <see cref="DtException"/> code
/// (<see cref="DtErrorCodes"/>, or one of <see cref="DtApiErrors"/>'s HTTP-level codes).
/// </summary>
public sealed record DtProblem(string Type, string Title, int Status, string Detail, string Code);

/// <summary>
/// The <c>dt-ready</c> event of an event stream, sent once the stream has caught up with the node's state (after the
/// snapshot of existing objects, when one was asked for). <see cref="Fresh"/> is true when the stream started from
/// <see cref="LastEventId"/> rather than resuming: a client that reconnects resumes after that id.
/// </summary>
public sealed record EventStreamReady(string NodeId, long LastEventId, bool Fresh);

/// <summary>Answer of <c>GET /healthz</c>.</summary>
public sealed record HealthReport(string Status, string NodeId, int Links, string? Detail = null);
