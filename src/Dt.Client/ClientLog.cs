using Microsoft.Extensions.Logging;

namespace Dt.Client;

internal static partial class ClientLog
{
    [LoggerMessage(100, LogLevel.Warning, "Event stream from {BaseAddress} dropped ({Reason}); reconnecting in {DelayMs} ms, resuming after event {AfterId}")]
    public static partial void StreamDropped(ILogger log, Uri baseAddress, string reason, long delayMs, long afterId);

    [LoggerMessage(101, LogLevel.Information, "Event stream from {BaseAddress} connected (node {NodeId}, after event {AfterId})")]
    public static partial void StreamReady(ILogger log, Uri baseAddress, string nodeId, long afterId);
}
