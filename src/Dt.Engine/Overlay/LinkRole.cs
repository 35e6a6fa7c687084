using Dt.Protocol;
using Dt.Transport;

namespace Dt.Overlay;

internal enum LinkRole
{
    /// <summary>The one outbound link chosen by fewest failures, then lowest round-trip time.</summary>
    Primary,
    /// <summary>An outbound link made to join a fragment of the overlay that this node's fragment cannot reach.</summary>
    Bridge,
    /// <summary>A peer dialed in.</summary>
    Inbound,
    /// <summary>A short-lived link that only measures round-trip time (a node test).</summary>
    Test,
}

/// <summary>The overlay's state for one link, and the handler the link reports to.</summary>
internal sealed class LinkState(PeerOverlay overlay, LinkRole role, Candidate? candidate, int rttSamples) : ILinkHandler
{
    ValueTask ILinkHandler.OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body) => overlay.OnMessageAsync(this, link, type, body);

    void ILinkHandler.OnClosed(PeerLink link, string reason) => overlay.OnClosed(this, link, reason);

    public LinkRole Role { get; set; } = role;

    public Candidate? Candidate { get; } = candidate;

    public RttWindow Rtt { get; } = new(rttSamples);

    public DateTimeOffset LastPing { get; set; }

    public int TestPongs;

    public TaskCompletionSource? TestDone { get; set; }
}
