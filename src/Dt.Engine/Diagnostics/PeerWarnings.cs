using System.Net;
using System.Net.Sockets;
using Dt.Security;
using Dt.Transport;
using Microsoft.Extensions.Logging;

namespace Dt.Diagnostics;

/// <summary>
/// The warnings a node logs per connection or per message from a peer (refused connections and handshakes, rejected
/// messages), each kind kept from flooding the log by a <see cref="LogRateLimiter{TKey}"/> per remote address
/// (IPv6: per /64): the first line of a source, then at most one per <c>Dt:PeerWarningInterval</c>,
/// and a summary line per source and interval of what was held back. <see cref="Flush"/> writes the summaries
/// (the overlay's maintenance tick calls it).
/// </summary>
internal sealed class PeerWarnings(ILogger overlayLog, ILogger nodeLog, TimeSpan interval, TimeProvider time)
{
    private readonly LogRateLimiter<IPAddress> _refused = new(interval, time);
    private readonly LogRateLimiter<IPAddress> _rejected = new(interval, time);

    public void Blocked(IPAddress remote)
    {
        if (_refused.ShouldLog(Key(remote))) DtLog.BlockedConnection(overlayLog, remote.ToString());
    }

    public void RateLimited(IPAddress remote)
    {
        if (_refused.ShouldLog(Key(remote))) DtLog.HandshakeRateLimited(overlayLog, remote.ToString());
    }

    public void InboundLimit(IPAddress remote)
    {
        if (_refused.ShouldLog(Key(remote))) DtLog.InboundLimit(overlayLog, remote.ToString());
    }

    public void HandshakeRefused(IPAddress remote, string reason)
    {
        if (_refused.ShouldLog(Key(remote))) DtLog.HandshakeRefused(overlayLog, remote.ToString(), reason);
    }

    /// <summary>A message from a linked peer that was rejected (the link stays).</summary>
    public void BadMessage(PeerLink link, string reason)
    {
        if (_rejected.ShouldLog(Key(link.RemoteEndPoint.Address))) DtLog.BadMessage(nodeLog, link.ToString(), reason);
    }

    public void Flush()
    {
        foreach (var s in _refused.Flush()) DtLog.RefusedSummary(overlayLog, s.Events, Name(s), s.PeriodText, s.Suppressed);
        foreach (var s in _rejected.Flush()) DtLog.BadMessageSummary(nodeLog, s.Events, Name(s), s.PeriodText, s.Suppressed);
    }

    /// <summary>The source a line is counted under: the IPv4 address, the IPv6 /64 (loopback as itself).</summary>
    private static IPAddress Key(IPAddress remote)
    {
        if (remote.IsIPv4MappedToIPv6) remote = remote.MapToIPv4();
        return IPAddress.IsLoopback(remote) ? remote : IpAccessControl.Group(remote);
    }

    private static string Name(LogSummary<IPAddress> s) =>
        s.Others || s.Source is null ? "other addresses"
        : s.Source.AddressFamily == AddressFamily.InterNetworkV6 && !IPAddress.IsLoopback(s.Source) ? $"{s.Source}/64"
        : s.Source.ToString();
}
