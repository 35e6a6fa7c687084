using System.Net;
using System.Net.Sockets;

namespace Dt.Security;

/// <summary>
/// Per-IP counting of failed handshakes in a sliding window, and temporary blocking after too many (node-ip-ac's
/// intent, without touching the host firewall). IPv6 addresses are grouped by /64, since one host usually owns one.
/// Loopback and allow-listed ranges are never blocked.
/// </summary>
internal sealed class IpAccessControl(int failureLimit, TimeSpan window, TimeSpan blockFor, bool neverBlockLoopback,
    IReadOnlyList<(IPAddress Network, int Bits)> allow, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, Record> _records = new();

    /// <summary>Raised (outside any lock) when an address group is blocked.</summary>
    public event Action<IPAddress, int>? Blocked;

    public long BlockCount { get; private set; }

    private sealed class Record
    {
        public readonly Queue<DateTimeOffset> Failures = new();
        public DateTimeOffset BlockedUntil;
    }

    public bool IsBlocked(IPAddress address)
    {
        var key = Group(address);
        lock (_lock)
            return _records.TryGetValue(key, out var r) && r.BlockedUntil > time.GetUtcNow();
    }

    /// <summary>Counts a failed handshake; returns true if this failure blocked the address (exempt addresses are counted, never blocked).</summary>
    public bool RecordFailure(IPAddress address)
    {
        bool exempt = IsExempt(address);
        var key = Group(address);
        var now = time.GetUtcNow();
        int count;
        lock (_lock)
        {
            if (!_records.TryGetValue(key, out var r))
            {
                if (_records.Count > 100_000) Prune(now);
                _records[key] = r = new Record();
            }
            while (r.Failures.Count > 0 && r.Failures.Peek() < now - window) r.Failures.Dequeue();
            r.Failures.Enqueue(now);
            count = r.Failures.Count;
            if (exempt || count < failureLimit || r.BlockedUntil > now) return false;
            r.BlockedUntil = now + blockFor;
            r.Failures.Clear();
            BlockCount++;
        }
        Blocked?.Invoke(key, count);
        return true;
    }

    /// <summary>Address groups blocked now.</summary>
    public int BlockedNow()
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            int n = 0;
            foreach (var r in _records.Values)
                if (r.BlockedUntil > now) n++;
            return n;
        }
    }

    public int FailureCount(IPAddress address)
    {
        var key = Group(address);
        var now = time.GetUtcNow();
        lock (_lock)
            return _records.TryGetValue(key, out var r) ? r.Failures.Count(f => f >= now - window) : 0;
    }

    private bool IsExempt(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (neverBlockLoopback && IPAddress.IsLoopback(address)) return true;
        foreach (var (net, bits) in allow)
            if (InRange(address, net, bits)) return true;
        return false;
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var k in _records.Where(kv => kv.Value.BlockedUntil <= now && (kv.Value.Failures.Count == 0 || kv.Value.Failures.Last() < now - window)).Select(kv => kv.Key).ToList())
            _records.Remove(k);
    }

    /// <summary>The unit an address is counted under: the IPv4 address, or the IPv6 /64.</summary>
    public static IPAddress Group(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) return address.MapToIPv4();
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return address;
        var b = address.GetAddressBytes();
        Array.Clear(b, 8, 8);
        return new IPAddress(b);
    }

    public static bool TryParseRange(string text, out (IPAddress Network, int Bits) range)
    {
        range = default;
        var parts = text.Split('/');
        if (!IPAddress.TryParse(parts[0], out var ip)) return false;
        int max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        int bits = max;
        if (parts.Length == 2 && (!int.TryParse(parts[1], out bits) || bits < 0 || bits > max)) return false;
        if (parts.Length > 2) return false;
        range = (ip, bits);
        return true;
    }

    private static bool InRange(IPAddress address, IPAddress network, int bits)
    {
        if (address.AddressFamily != network.AddressFamily) return false;
        var a = address.GetAddressBytes();
        var n = network.GetAddressBytes();
        for (int i = 0; i < a.Length && bits > 0; i++, bits -= 8)
        {
            int mask = bits >= 8 ? 0xFF : (0xFF << (8 - bits)) & 0xFF;
            if ((a[i] & mask) != (n[i] & mask)) return false;
        }
        return true;
    }
}
