using Dt.Messaging;
using Dt.Overlay;
using Dt.Replication;

namespace Dt.Hosting;

/// <summary>Each layer's own settings, taken from these options when the node is composed.</summary>
public sealed partial class DtOptions
{
    internal OverlayOptions ForOverlay() => new()
    {
        ListenAddress = ListenAddress,
        Port = Port,
        Peers = [.. Peers],
        PingInterval = PingInterval,
        LinkIdleTimeout = LinkIdleTimeout,
        RttSamples = RttSamples,
        NodeTestInterval = NodeTestInterval,
        HandshakeTimeout = HandshakeTimeout,
        ReconnectBaseDelay = ReconnectBaseDelay,
        ReconnectMaxDelay = ReconnectMaxDelay,
        AnnounceInterval = AnnounceInterval,
        PurgeAfter = PurgeAfter,
        MaxOutboundLinks = MaxOutboundLinks,
        MaxInboundLinks = MaxInboundLinks,
        MaxInboundLinksPerIp = MaxInboundLinksPerIp,
        MaxHandshakesPerSecondPerIp = MaxHandshakesPerSecondPerIp,
        PeerWarningInterval = PeerWarningInterval,
    };

    internal ReplicationOptions ForReplication() => new()
    {
        Network = Network,
        Master = Master,
        MaxObjectBytes = MaxObjectBytes,
        MaxObjectsPerTable = MaxObjectsPerTable,
        MaxFrameBytes = MaxFrameBytes,
        SyncInterval = SyncInterval,
        TombstoneRetention = TombstoneRetention,
    };

    internal BroadcastOptions ForBroadcast() => new()
    {
        MaxMessageBytes = MaxMessageBytes,
        MessageIdWindow = MessageIdWindow,
        MaxRememberedMessageIds = MaxRememberedMessageIds,
    };
}
