namespace Dt.Messaging;

/// <summary>Broadcast messages' settings, handed in by the node (documented, defaulted and validated once, on <c>DtOptions</c>).</summary>
internal sealed record BroadcastOptions
{
    public required int MaxMessageBytes { get; init; }
    public required TimeSpan MessageIdWindow { get; init; }
    public required int MaxRememberedMessageIds { get; init; }
}
