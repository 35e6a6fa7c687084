namespace Dt.Overlay;

/// <summary>The overlay's settings, handed in by the node (each documented, defaulted and validated on <c>DtOptions</c>, whose names they keep).</summary>
internal sealed record OverlayOptions
{
    public string ListenAddress { get; init; } = "::";
    public int Port { get; init; } = 9700;
    public IReadOnlyList<string> Peers { get; init; } = [];
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan LinkIdleTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public int RttSamples { get; init; } = 20;
    public TimeSpan NodeTestInterval { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan AnnounceInterval { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan PurgeAfter { get; init; } = TimeSpan.FromMinutes(10);
    public int MaxOutboundLinks { get; init; } = 3;
    public int MaxInboundLinks { get; init; } = 1024;
    public int MaxInboundLinksPerIp { get; init; } = 64;
    public double MaxHandshakesPerSecondPerIp { get; init; } = 20;
    public TimeSpan PeerWarningInterval { get; init; } = TimeSpan.FromMinutes(1);
}
