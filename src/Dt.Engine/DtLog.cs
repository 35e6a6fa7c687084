using Microsoft.Extensions.Logging;

namespace Dt;

/// <summary>Every log line of the engine, source-generated, with stable event ids.</summary>
internal static partial class DtLog
{
    [LoggerMessage(1, LogLevel.Information, "Node {NodeId} started (master: {IsMaster}, network '{Network}', listening on {Listen})")]
    public static partial void NodeStarted(ILogger log, Guid nodeId, bool isMaster, string network, string listen);

    [LoggerMessage(2, LogLevel.Information, "Node {NodeId} stopped")]
    public static partial void NodeStopped(ILogger log, Guid nodeId);

    [LoggerMessage(3, LogLevel.Information, "Returned {FreedMb} MB of memory to the system after a bulk of objects ({CommittedMb} MB kept; full collection {Ms:0} ms)")]
    public static partial void MemoryTrimmed(ILogger log, long freedMb, long committedMb, double ms);

    [LoggerMessage(4, LogLevel.Warning, "Returning memory after a bulk of objects failed: {Reason}")]
    public static partial void MemoryTrimFailed(ILogger log, string reason);

    [LoggerMessage(10, LogLevel.Information, "Link up: {Link} as {Role} (peer is master: {IsMaster})")]
    public static partial void LinkUp(ILogger log, string link, string role, bool isMaster);

    [LoggerMessage(11, LogLevel.Information, "Link down: {Link}: {Reason}")]
    public static partial void LinkDown(ILogger log, string link, string reason);

    [LoggerMessage(12, LogLevel.Warning, "Refused peer {Remote}: {Reason}")]
    public static partial void HandshakeRefused(ILogger log, string remote, string reason);

    [LoggerMessage(13, LogLevel.Debug, "Dialing {Address} failed: {Reason}")]
    public static partial void DialFailed(ILogger log, string address, string reason);

    [LoggerMessage(14, LogLevel.Information, "{Address} is this node itself; it will not be dialed again")]
    public static partial void IsSelf(ILogger log, string address);

    [LoggerMessage(15, LogLevel.Warning, "Connection from blocked address {Remote} dropped")]
    public static partial void BlockedConnection(ILogger log, string remote);

    [LoggerMessage(16, LogLevel.Warning, "Connection from {Remote} dropped: inbound link limit reached")]
    public static partial void InboundLimit(ILogger log, string remote);

    [LoggerMessage(17, LogLevel.Warning, "Accepting a connection failed: {Reason}")]
    public static partial void AcceptFailed(ILogger log, string reason);

    [LoggerMessage(19, LogLevel.Warning, "Connection from {Remote} dropped: too many handshakes per second")]
    public static partial void HandshakeRateLimited(ILogger log, string remote);

    [LoggerMessage(18, LogLevel.Warning, "Blocked {Address} after {Failures} failed handshakes")]
    public static partial void IpBlocked(ILogger log, string address, int failures);

    [LoggerMessage(25, LogLevel.Warning, "Refused {Count:N0} connections from {Remote} in the last {Period} ({Suppressed:N0} not logged one by one)")]
    public static partial void RefusedSummary(ILogger log, long count, string remote, string period, long suppressed);

    [LoggerMessage(20, LogLevel.Debug, "Discovered node {NodeId} at {Address}")]
    public static partial void Discovered(ILogger log, string address, Guid nodeId);

    [LoggerMessage(21, LogLevel.Debug, "Node test of {Address}: average round trip {AverageMs:0.###} ms over {Samples} pings")]
    public static partial void NodeTested(ILogger log, string address, double averageMs, int samples);

    [LoggerMessage(22, LogLevel.Information, "Switching primary link from {From} to {To}")]
    public static partial void PrimarySwitch(ILogger log, string from, string to);

    [LoggerMessage(23, LogLevel.Debug, "Purged unreachable node {Address}")]
    public static partial void Purged(ILogger log, string address);

    [LoggerMessage(24, LogLevel.Error, "Overlay maintenance failed")]
    public static partial void MaintenanceFailed(ILogger log, Exception e);

    [LoggerMessage(31, LogLevel.Warning, "Dropping changes to table '{Table}' from {Origin}: they are signed by master {Fingerprint}, which is not in Dt:TrustedMasterKeys ({Count} changes dropped since the last line; repeated at most once a minute). If that master is yours, add its public key (it prints it at start with this fingerprint) to Dt:TrustedMasterKeys")]
    public static partial void UntrustedSigner(ILogger log, string table, string origin, string fingerprint, long count);

    [LoggerMessage(35, LogLevel.Warning, "Dropping changes to table '{Table}' from {Origin}: they are signed as trusted master {Fingerprint} but fail verification, forged or altered ({Count} changes dropped since the last line; repeated at most once a minute)")]
    public static partial void ForgedChanges(ILogger log, string table, string origin, string fingerprint, long count);

    [LoggerMessage(32, LogLevel.Warning, "Streaming changes to {Link} failed: {Reason}")]
    public static partial void BulkSendFailed(ILogger log, string link, string reason);

    [LoggerMessage(33, LogLevel.Information, "Dropped {Count} entries that no trusted master signed")]
    public static partial void ForgotUnsigned(ILogger log, int count);

    [LoggerMessage(40, LogLevel.Debug, "Ignored message of unknown type {Type} from {Link}")]
    public static partial void UnknownMessage(ILogger log, byte type, string link);

    [LoggerMessage(41, LogLevel.Warning, "Message from {Link} rejected: {Reason}")]
    public static partial void BadMessage(ILogger log, string link, string reason);

    [LoggerMessage(42, LogLevel.Warning, "Rejected {Count:N0} messages from {Remote} in the last {Period} ({Suppressed:N0} not logged one by one)")]
    public static partial void BadMessageSummary(ILogger log, long count, string remote, string period, long suppressed);
}
