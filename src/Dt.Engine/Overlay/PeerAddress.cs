using System.Globalization;
using System.Net;

namespace Dt.Overlay;

/// <summary>A dialable peer address: a host name or IP literal and a port.</summary>
internal sealed record PeerAddress(string Host, int Port)
{
    public static bool TryParse(string? text, out PeerAddress address)
    {
        address = null!;
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim();
        string host, port;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':') return false;
            host = text[1..close];
            port = text[(close + 2)..];
            if (!IPAddress.TryParse(host, out _)) return false;
        }
        else
        {
            int colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':') != colon) return false;
            host = text[..colon];
            port = text[(colon + 1)..];
        }
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int p) || p is < 1 or > 65535) return false;
        if (host.Length > 255 || host.Any(char.IsWhiteSpace)) return false;
        address = new PeerAddress(host, p);
        return true;
    }

    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    public static PeerAddress From(IPAddress ip, int port)
    {
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        return new PeerAddress(ip.ToString(), port);
    }
}
