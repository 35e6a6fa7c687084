namespace Dt.Overlay;

/// <summary>The overlay's settings, handed in by the node (each documented, defaulted and validated once, on <c>DtOptions</c>, whose names they keep).</summary>
internal sealed record OverlayOptions
{
    public required string ListenAddress { get; init; }
    public required int Port { get; init; }
    public required IReadOnlyList<string> Peers { get; init; }
    public required TimeSpan PingInterval { get; init; }
    public required TimeSpan LinkIdleTimeout { get; init; }
    public required int RttSamples { get; init; }
    public required TimeSpan NodeTestInterval { get; init; }
    public required TimeSpan HandshakeTimeout { get; init; }
    public required TimeSpan ReconnectBaseDelay { get; init; }
    public required TimeSpan ReconnectMaxDelay { get; init; }
    public required TimeSpan AnnounceInterval { get; init; }
    public required TimeSpan PurgeAfter { get; init; }
    public required int MaxOutboundLinks { get; init; }
    public required int MaxInboundLinks { get; init; }
    public required int MaxInboundLinksPerIp { get; init; }
    public required double MaxHandshakesPerSecondPerIp { get; init; }
    public required TimeSpan PeerWarningInterval { get; init; }
}
