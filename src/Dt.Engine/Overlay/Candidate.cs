namespace Dt.Overlay;

/// <summary>A node this node may dial: configured, or learned from peers (distant-node discovery).</summary>
internal sealed class Candidate(PeerAddress address, bool configured, int rttSamples)
{
    public PeerAddress Address { get; } = address;

    public bool Configured { get; } = configured;

    public Guid? NodeId { get; set; }

    public bool IsMaster { get; set; }

    /// <summary>Dialing it reached this node itself (e.g. its own address seen through NAT): never dialed again.</summary>
    public bool IsSelf { get; set; }

    /// <summary>Connection failures, less one per successful link (as the reference counts them); ranks primaries.</summary>
    public int Failures { get; set; }

    public int ConsecutiveFailures { get; set; }

    public DateTimeOffset NextAttempt { get; set; }

    public DateTimeOffset LastSeen { get; set; }

    public DateTimeOffset LastTested { get; set; }

    public RttWindow Rtt { get; } = new(rttSamples);

    public bool Dialing { get; set; }
}
