namespace Dt.Replication;

/// <summary>Replication's settings, handed in by the node (each documented, defaulted and validated once, on <c>DtOptions</c>, whose names they keep).</summary>
internal sealed record ReplicationOptions
{
    public required string Network { get; init; }
    public required bool Master { get; init; }
    public required int MaxObjectBytes { get; init; }
    public required long MaxObjectsPerTable { get; init; }
    public required int MaxFrameBytes { get; init; }
    public required TimeSpan SyncInterval { get; init; }
    public required TimeSpan TombstoneRetention { get; init; }
}
