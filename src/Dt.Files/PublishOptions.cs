namespace Dt.Files;

/// <summary>How a directory is cut and sent. The defaults fit Dt's default caps (Dt:MaxObjectBytes 1 MiB,
/// Silo:MaxBodyBytes 4 MiB).</summary>
public sealed record PublishOptions
{
    /// <summary>Target chunk size, a power of two. Default 256 KiB.</summary>
    public int AverageChunkBytes { get; init; } = 256 * 1024;

    /// <summary>Largest chunk: its base64 (4/3 of it) must fit under the nodes' Dt:MaxObjectBytes. Default 512 KiB.</summary>
    public int MaxChunkBytes { get; init; } = 512 * 1024;

    /// <summary>JSON bytes per AddObjects call, under the silo's Silo:MaxBodyBytes. Default 3 MiB.</summary>
    public long MaxBatchBytes { get; init; } = 3 << 20;

    /// <summary>Deflate chunks where it saves at least an eighth (checked on a 16 KiB sample first). Default true.</summary>
    public bool Compress { get; init; } = true;

    /// <summary>Hash every file even when its size, time and mode match the published manifest. Default false.</summary>
    public bool Checksum { get; init; }

    /// <summary>Chunks a manifest holds inline; a file with more names them through chunk lists. Default 4,000
    /// (tests lower it to exercise the lists with small files).</summary>
    public int MaxInlineChunks { get; init; } = 4000;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (AverageChunkBytes < 4096 || (AverageChunkBytes & (AverageChunkBytes - 1)) != 0) errors.Add("the average chunk size must be a power of two of at least 4 KiB");
        if (MaxChunkBytes < AverageChunkBytes * 2 || MaxChunkBytes > FileManifest.MaxChunkBytes) errors.Add($"the largest chunk must be at least twice the average and at most {FileManifest.MaxChunkBytes} bytes");
        if (MaxBatchBytes < ChunkCodec.MaxObjectBytes(MaxChunkBytes)) errors.Add("a batch must hold at least one chunk object");
        if (MaxInlineChunks is < 1 or > FileManifest.MaxChunks) errors.Add($"inline chunks must be between 1 and {FileManifest.MaxChunks}");
        return errors;
    }
}

/// <summary>Where a publish is: files looked at and bytes read out of the totals, bytes sent so far.</summary>
public sealed record PublishProgress(int FilesDone, int FilesTotal, long BytesRead, long BytesTotal, long BytesSent, string? CurrentPath);

/// <summary>What a publish did. <see cref="BytesSent"/>: chunk objects' JSON added (manifests not counted).</summary>
public sealed record PublishResult(
    int Files, int Added, int Changed, int Removed, int Unchanged, int Skipped,
    long BytesRead, long ChunksSent, long BytesSent, long ChunksReused, long ChunksRemoved, TimeSpan Elapsed);
