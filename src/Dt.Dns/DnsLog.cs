using Microsoft.Extensions.Logging;

namespace Dt.Dns;

/// <summary>Every log line of the DNS service, source-generated, with stable event ids (5000-5099).</summary>
internal static partial class DnsLog
{
    [LoggerMessage(5000, LogLevel.Information, "DNS service answering on UDP {Udp} and TCP {Tcp} from table '{Table}'")]
    public static partial void Started(ILogger log, string udp, string tcp, string table);

    [LoggerMessage(5001, LogLevel.Information, "DNS service stopped")]
    public static partial void Stopped(ILogger log);

    [LoggerMessage(5002, LogLevel.Warning, "Following table '{Table}' stopped: {Reason}; re-listing it")]
    public static partial void SubscriptionEnded(ILogger log, string table, string reason);

    [LoggerMessage(5003, LogLevel.Information, "Listed table '{Table}': {Objects} objects, {Zones} zones")]
    public static partial void TableListed(ILogger log, string table, int objects, int zones);

    [LoggerMessage(5004, LogLevel.Warning, "Table '{Table}' holds {TableCount} objects but {Held} are followed; re-listing it")]
    public static partial void CountMismatch(ILogger log, string table, long tableCount, int held);

    [LoggerMessage(5005, LogLevel.Warning, "Ignoring DNS object {Hash}: {Reason}")]
    public static partial void InvalidObject(ILogger log, string hash, string reason);

    [LoggerMessage(5006, LogLevel.Information, "Zone {Zone} now serves serial {Serial} ({Records} records, digest {Digest})")]
    public static partial void ZonePublished(ILogger log, string zone, uint serial, int records, string digest);

    [LoggerMessage(5007, LogLevel.Information, "Zone {Zone} removed")]
    public static partial void ZoneRemoved(ILogger log, string zone);

    [LoggerMessage(5008, LogLevel.Warning, "A {What} handler failed: {Reason}")]
    public static partial void HandlerFailed(ILogger log, string what, string reason);

    [LoggerMessage(5010, LogLevel.Warning, "UDP receive failed: {Reason}")]
    public static partial void UdpFailed(ILogger log, string reason);

    [LoggerMessage(5011, LogLevel.Warning, "TCP accept failed: {Reason}")]
    public static partial void AcceptFailed(ILogger log, string reason);

    [LoggerMessage(5012, LogLevel.Warning, "TCP connection from {Remote} closed: {Limit} connections are open (Dns:MaxTcpConnections)")]
    public static partial void TcpLimit(ILogger log, string remote, int limit);

    [LoggerMessage(5013, LogLevel.Debug, "TCP connection from {Remote} ended: {Reason}")]
    public static partial void TcpEnded(ILogger log, string remote, string reason);

    [LoggerMessage(5014, LogLevel.Error, "Handling a request from {Remote} failed: {Reason}")]
    public static partial void RequestFailed(ILogger log, string remote, string reason);

    [LoggerMessage(5020, LogLevel.Warning, "Zone transfer of {Zone} refused to {Remote}: {Reason} ({Suppressed} more refusals not logged since the last line)")]
    public static partial void TransferRefused(ILogger log, string zone, string remote, string reason, long suppressed);

    [LoggerMessage(5021, LogLevel.Information, "{Kind} of {Zone} serial {Serial} to {Remote}: {Records} records in {Messages} messages")]
    public static partial void TransferDone(ILogger log, string kind, string zone, uint serial, string remote, int records, int messages);

    [LoggerMessage(5030, LogLevel.Debug, "NOTIFY {Zone} serial {Serial} to {Target} (try {Attempt})")]
    public static partial void NotifySent(ILogger log, string zone, uint serial, string target, int attempt);

    [LoggerMessage(5031, LogLevel.Information, "NOTIFY {Zone} serial {Serial} acknowledged by {Target}")]
    public static partial void NotifyAcknowledged(ILogger log, string zone, uint serial, string target);

    [LoggerMessage(5032, LogLevel.Warning, "NOTIFY {Zone} serial {Serial} to {Target}: no answer after {Attempts} tries")]
    public static partial void NotifyGaveUp(ILogger log, string zone, uint serial, string target, int attempts);

    [LoggerMessage(5033, LogLevel.Warning, "NOTIFY to {Target} failed: {Reason}")]
    public static partial void NotifyFailed(ILogger log, string target, string reason);

    [LoggerMessage(5040, LogLevel.Warning, "UPDATE of {Zone} from {Remote} refused: {Reason}")]
    public static partial void UpdateRefused(ILogger log, string zone, string remote, string reason);

    [LoggerMessage(5041, LogLevel.Information, "UPDATE of {Zone} from {Remote}: serial {Serial}, {Added} added, {Removed} removed")]
    public static partial void UpdateApplied(ILogger log, string zone, string remote, uint serial, int added, int removed);

    [LoggerMessage(5042, LogLevel.Warning, "UPDATE from {Remote} dropped: {Queued} updates are queued (Dns:UpdateQueueSize)")]
    public static partial void UpdateQueueFull(ILogger log, string remote, int queued);

    [LoggerMessage(5043, LogLevel.Warning, "UPDATE of {Zone} from {Remote} failed: {Reason}")]
    public static partial void UpdateFailed(ILogger log, string zone, string remote, string reason);

    [LoggerMessage(5050, LogLevel.Information, "Zone {Zone} matched no serial; committed serial {Serial} for its content")]
    public static partial void Recommitted(ILogger log, string zone, uint serial);

    [LoggerMessage(5051, LogLevel.Warning, "Re-committing zone {Zone} failed: {Reason}")]
    public static partial void RecommitFailed(ILogger log, string zone, string reason);

    [LoggerMessage(5060, LogLevel.Debug, "World-valid lookup {Id}: {Name} {Type} -> {Rcode} with {Records} records from {Resolver}")]
    public static partial void LookupAnswered(ILogger log, string id, string name, string type, string rcode, int records, string resolver);

    [LoggerMessage(5061, LogLevel.Warning, "World-valid lookup request dropped: {Queued} are queued (Dns:LookupQueueSize)")]
    public static partial void LookupDropped(ILogger log, int queued);

    [LoggerMessage(5062, LogLevel.Warning, "Following broadcast messages stopped: {Reason}; subscribing again")]
    public static partial void MessagesEnded(ILogger log, string reason);

    [LoggerMessage(5070, LogLevel.Warning, "Generated DNSSEC {Kind} {Tag} for zone {Zone} in {Stem}.key/.private")]
    public static partial void KeyGenerated(ILogger log, string zone, string kind, ushort tag, string stem);

    [LoggerMessage(5071, LogLevel.Warning, "Zone {Zone} is signed: give its parent this DS record: {Ds}")]
    public static partial void PublishDs(ILogger log, string zone, string ds);

    [LoggerMessage(5072, LogLevel.Error, "DNSSEC key file {File} ignored: {Reason}")]
    public static partial void KeyUnreadable(ILogger log, string file, string reason);

    [LoggerMessage(5073, LogLevel.Information, "Zone {Zone} re-signed: serial {Serial}, {Added} records added, {Removed} removed")]
    public static partial void Resigned(ILogger log, string zone, uint serial, int added, int removed);

    [LoggerMessage(5074, LogLevel.Error, "Signing zone {Zone} failed: {Reason}")]
    public static partial void SigningFailed(ILogger log, string zone, string reason);
}
