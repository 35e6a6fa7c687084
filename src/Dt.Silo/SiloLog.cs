namespace Dt.Silo;

/// <summary>Every log line of the silo, source-generated, with stable event ids.</summary>
internal static partial class SiloLog
{
    [LoggerMessage(1, LogLevel.Information, "Dt silo ready: node {NodeId} named {Name}, HTTP API on {Urls}, peers on {PeerEndpoint}, Orleans gateway on port {GatewayPort} ({Clustering} clustering, cluster {ClusterId})")]
    public static partial void Ready(ILogger log, string name, Guid nodeId, string urls, string peerEndpoint, int gatewayPort, string clustering, string clusterId);

    [LoggerMessage(2, LogLevel.Information, "Key read from {Path}")]
    public static partial void KeyLoaded(ILogger log, string path);

    [LoggerMessage(3, LogLevel.Information, "Key generated and stored in {Path}")]
    public static partial void KeyGenerated(ILogger log, string path);

    [LoggerMessage(7, LogLevel.Information, "This master's public key (other nodes list it in Dt:TrustedMasterKeys): {PublicKey} (fingerprint {Fingerprint}, as nodes that do not trust it name it)")]
    public static partial void MasterPublicKey(ILogger log, string publicKey, string fingerprint);

    [LoggerMessage(4, LogLevel.Warning, "{Warning}")]
    public static partial void ConfigurationWarning(ILogger log, string warning);

    [LoggerMessage(5, LogLevel.Information, "Dt silo stopping")]
    public static partial void Stopping(ILogger log);

    [LoggerMessage(6, LogLevel.Information, "Dt silo stopped")]
    public static partial void Stopped(ILogger log);

    [LoggerMessage(10, LogLevel.Error, "{Method} {Path} failed")]
    public static partial void RequestFailed(ILogger log, string method, string path, Exception exception);

    [LoggerMessage(11, LogLevel.Warning, "Refused {Method} {Path} from {Remote}: missing or wrong API token")]
    public static partial void Unauthorized(ILogger log, string method, string path, string remote);

    [LoggerMessage(12, LogLevel.Warning, "Refused {Method} {Path} on non-loopback address {Local}: Silo:ApiToken is not set")]
    public static partial void NotLoopback(ILogger log, string method, string path, string local);

    [LoggerMessage(20, LogLevel.Debug, "Event stream opened from {Remote} (table {Table}, after {After}, existing {Existing})")]
    public static partial void StreamOpened(ILogger log, string remote, string table, long after, bool existing);

    [LoggerMessage(21, LogLevel.Debug, "Event stream to {Remote} ended: {Reason}")]
    public static partial void StreamEnded(ILogger log, string remote, string reason);
}
