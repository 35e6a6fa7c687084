namespace Dt.Protocol;

/// <summary>The first byte of every frame's plaintext. Unknown types are logged and dropped, not fatal.</summary>
internal enum MessageType : byte
{
    Hello = 1,
    Confirm = 2,
    /// <summary>Several small messages sealed in one frame: repeated (varint length, message).</summary>
    Bundle = 3,
    Ping = 10,
    Pong = 11,
    PeerList = 12,
    Announce = 13,
    Goodbye = 14,
    Changes = 20,
    SyncSummary = 21,
    SyncNodesRequest = 22,
    SyncNodes = 23,
    RangeRequest = 24,
    RangeVersions = 25,
    EntryRequest = 26,
    /// <summary>A link's first round: each side's newest change per table, so the other pushes what came after it.</summary>
    SyncSince = 27,
    Broadcast = 30,
}

/// <summary>Limits every decoder enforces, whatever the frame size allows.</summary>
internal static class WireLimits
{
    public const int MaxTableName = 128;
    public const int MaxHost = 255;
    public const int MaxPeersPerList = 1024;
    public const int MaxTables = 4096;
    public const int MaxRanges = 1 << 20;
    public const int MaxChangesPerFrame = 1 << 20;
    public const int MaxReason = 512;
}
