using Microsoft.Extensions.Logging;

namespace Dt.Cdn;

/// <summary>Every log line of the CDN, source-generated, with stable event ids (6100-6149).</summary>
internal static partial class CdnLog
{
    [LoggerMessage(6100, LogLevel.Information, "CDN serving file set '{Set}' on {Urls} (beacons as {PublicUrl}, location '{Location}')")]
    public static partial void Serving(ILogger log, string set, string urls, string publicUrl, string location);

    [LoggerMessage(6101, LogLevel.Information, "CDN redirector for file set '{Set}' on {Urls}")]
    public static partial void Redirecting(ILogger log, string set, string urls);

    [LoggerMessage(6102, LogLevel.Information, "CDN stopped")]
    public static partial void Stopped(ILogger log);

    [LoggerMessage(6103, LogLevel.Warning, "CDN could not send its beacon: {Reason}")]
    public static partial void BeaconFailed(ILogger log, string reason);

    [LoggerMessage(6104, LogLevel.Warning, "CDN stopped following file set '{Set}': {Reason}; re-subscribing")]
    public static partial void FollowBroken(ILogger log, string set, string reason);

    [LoggerMessage(6105, LogLevel.Warning, "CDN cannot serve {Path}: {Reason}")]
    public static partial void ServeFailed(ILogger log, string path, string reason);

    [LoggerMessage(6106, LogLevel.Information, "CDN redirector: node {Node} at {Url} ({Location}) is live")]
    public static partial void NodeUp(ILogger log, string node, string url, string location);

    [LoggerMessage(6107, LogLevel.Information, "CDN redirector: node {Node} at {Url} dropped: {Reason}")]
    public static partial void NodeDropped(ILogger log, string node, string url, string reason);

    [LoggerMessage(6108, LogLevel.Warning, "CDN ignoring a beacon from {Origin}: {Reason}")]
    public static partial void BadBeacon(ILogger log, string origin, string reason);

    [LoggerMessage(6109, LogLevel.Warning, "CDN ignoring {Count} objects of file set '{Set}' that are no valid manifest")]
    public static partial void RefusedManifests(ILogger log, string set, int count);
}
