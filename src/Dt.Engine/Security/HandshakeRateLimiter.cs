using System.Net;

namespace Dt.Security;

/// <summary>
/// A token bucket per source address group (IPv4 address, IPv6 /64): at most <c>rate</c> handshakes a second with
/// bursts of twice that, so a flood of connections cannot make a node spend its CPU on key derivation.
/// </summary>
internal sealed class HandshakeRateLimiter(double ratePerSecond, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, (double Tokens, long Stamp)> _buckets = new();

    public bool TryAcquire(IPAddress address)
    {
        var key = IpAccessControl.Group(address);
        long now = time.GetTimestamp();
        double burst = Math.Max(1, 2 * ratePerSecond);
        lock (_lock)
        {
            if (_buckets.Count > 100_000) _buckets.Clear(); // a flood of distinct sources: start over rather than grow
            var (tokens, stamp) = _buckets.TryGetValue(key, out var b) ? b : (burst, now);
            tokens = Math.Min(burst, tokens + time.GetElapsedTime(stamp, now).TotalSeconds * ratePerSecond);
            bool ok = tokens >= 1;
            _buckets[key] = (ok ? tokens - 1 : tokens, now);
            return ok;
        }
    }
}
