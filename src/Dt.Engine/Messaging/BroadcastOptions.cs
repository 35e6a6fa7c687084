namespace Dt.Messaging;

/// <summary>Broadcast messages' settings, handed in by the node (documented, defaulted and validated on <c>DtOptions</c>).</summary>
internal sealed record BroadcastOptions
{
    public int MaxMessageBytes { get; init; } = 1 << 20;
    public TimeSpan MessageIdWindow { get; init; } = TimeSpan.FromMinutes(5);
    public int MaxRememberedMessageIds { get; init; } = 1_000_000;
}
