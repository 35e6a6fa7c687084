namespace Dt.Replication;

/// <summary>Replication's settings, handed in by the node (each documented, defaulted and validated on <c>DtOptions</c>, whose names they keep).</summary>
internal sealed record ReplicationOptions
{
    public string Network { get; init; } = "dt";
    public bool Master { get; init; }
    public int MaxObjectBytes { get; init; } = 1 << 20;
    public long MaxObjectsPerTable { get; init; } = 10_000_000;
    public int MaxFrameBytes { get; init; } = 16 << 20;
    public TimeSpan SyncInterval { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan TombstoneRetention { get; init; } = TimeSpan.FromDays(30);
}
