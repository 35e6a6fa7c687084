using Microsoft.Extensions.Logging;

namespace Dt.Files;

/// <summary>Every log line of file sync, source-generated, with stable event ids (6000-6049).</summary>
internal static partial class FilesLog
{
    [LoggerMessage(6000, LogLevel.Warning, "Not publishing {Path}: {Reason}")]
    public static partial void SourceSkipped(ILogger log, string path, string reason);

    [LoggerMessage(6001, LogLevel.Information, "Published file set '{Set}': {Files} files ({Added} added, {Changed} changed, {Removed} removed), {BytesSent} bytes of chunks sent")]
    public static partial void Published(ILogger log, string set, int files, int added, int changed, int removed, long bytesSent);

    [LoggerMessage(6002, LogLevel.Warning, "Removing object {Hash} from file set '{Set}': it is no valid manifest ({Reason})")]
    public static partial void RemovingInvalidManifest(ILogger log, string set, string hash, string reason);

    [LoggerMessage(6003, LogLevel.Warning, "File set '{Set}': the chunk lists of {Path} cannot be read ({Reason}); its chunks are neither reused nor removed")]
    public static partial void ListUnreadable(ILogger log, string set, string path, string reason);

    [LoggerMessage(6010, LogLevel.Error, "Mirror of '{Set}' refuses manifest {Hash}: {Reason}")]
    public static partial void ManifestRefused(ILogger log, string set, string hash, string reason);

    [LoggerMessage(6011, LogLevel.Warning, "Mirror of '{Set}' could not write {Path}: {Reason}")]
    public static partial void FileFailed(ILogger log, string set, string path, string reason);

    [LoggerMessage(6012, LogLevel.Information, "Mirror of '{Set}' in {Directory}: {Written} written, {Deleted} deleted, {Unchanged} unchanged, {Failed} failed, {Refused} refused; {BytesFetched} bytes fetched")]
    public static partial void PassDone(ILogger log, string set, string directory, int written, int deleted, int unchanged, int failed, int refused, long bytesFetched);

    [LoggerMessage(6013, LogLevel.Warning, "Mirror of '{Set}' cannot read the file set: {Reason}; trying again")]
    public static partial void PassFailed(ILogger log, string set, string reason);

    [LoggerMessage(6014, LogLevel.Warning, "Mirror of '{Set}' stopped following the manifest table: {Reason}; re-subscribing")]
    public static partial void FollowBroken(ILogger log, string set, string reason);
}
