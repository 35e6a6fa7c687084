using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Dt.Dns.Server;

/// <summary>An IP address or CIDR range ("192.0.2.1", "10.0.0.0/8", "2001:db8::/32"). IPv4-mapped IPv6 addresses
/// match as IPv4.</summary>
public sealed class AddressRange
{
    private readonly byte[] _network;
    private readonly int _prefix;

    private AddressRange(byte[] network, int prefix)
    {
        _network = network;
        _prefix = prefix;
    }

    public static bool TryParse(string text, out AddressRange range)
    {
        range = null!;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var parts = text.Trim().Split('/');
        if (parts.Length > 2 || !IPAddress.TryParse(parts[0], out var ip)) return false;
        ip = Normalize(ip);
        var bytes = ip.GetAddressBytes();
        int max = bytes.Length * 8;
        int prefix = max;
        if (parts.Length == 2 && (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > max)) return false;
        range = new AddressRange(bytes, prefix);
        return true;
    }

    private static IPAddress Normalize(IPAddress ip) => ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;

    public bool Contains(IPAddress address)
    {
        var bytes = Normalize(address).GetAddressBytes();
        if (bytes.Length != _network.Length) return false;
        int full = _prefix / 8, rest = _prefix % 8;
        for (int i = 0; i < full; i++)
            if (bytes[i] != _network[i]) return false;
        if (rest == 0) return true;
        int mask = 0xFF << (8 - rest) & 0xFF;
        return (bytes[full] & mask) == (_network[full] & mask);
    }

    public static IReadOnlyList<AddressRange> ParseAll(IEnumerable<string> texts) =>
        texts.Select(t => TryParse(t, out var r) ? r : null).OfType<AddressRange>().ToList();

    public static AddressRange Single(IPAddress ip) => new(Normalize(ip).GetAddressBytes(), Normalize(ip).AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
}
