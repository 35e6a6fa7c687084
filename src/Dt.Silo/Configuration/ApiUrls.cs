using System.Net;

namespace Dt.Silo.Configuration;

/// <summary>
/// The addresses the HTTP API will listen on, read from configuration the way Kestrel reads them ("urls" from
/// appsettings, ASPNETCORE_URLS or --urls; Kestrel:Endpoints), so the silo can refuse a non-loopback bind without a
/// token before anything listens.
/// </summary>
internal static class ApiUrls
{
    public static IReadOnlyList<string> Read(IConfiguration config)
    {
        var urls = new List<string>();
        foreach (var endpoint in config.GetSection("Kestrel:Endpoints").GetChildren())
            if (endpoint["Url"] is { Length: > 0 } u) urls.Add(u);
        if (urls.Count > 0) return urls; // Kestrel's own endpoints win over "urls".
        if (config["urls"] is { Length: > 0 } list)
            return list.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // Without "urls", ASP.NET Core binds HTTP_PORTS/HTTPS_PORTS on every interface, else localhost:5000.
        foreach (var key in new[] { "http_ports", "https_ports" })
            if (config[key] is { Length: > 0 } ports)
                urls.AddRange(ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(p => $"{(key == "http_ports" ? "http" : "https")}://*:{p}"));
        return urls.Count > 0 ? urls : ["http://localhost:5000"];
    }

    /// <summary>Problems with the URLs: unparsable ones, and non-loopback ones when there is no token.</summary>
    public static List<string> Check(IReadOnlyList<string> urls, bool hasToken)
    {
        var errors = new List<string>();
        foreach (var url in urls)
        {
            BindingAddress address;
            try { address = BindingAddress.Parse(url); }
            catch (FormatException)
            {
                errors.Add($"urls: '{url}' is not a URL to listen on (e.g. http://127.0.0.1:9780).");
                continue;
            }
            if (!hasToken && !IsLoopback(address))
                errors.Add($"urls: '{url}' exposes the HTTP API beyond this machine; set Silo:ApiToken (at least {SiloOptions.MinTokenLength} characters) " +
                           "so that every /v1 request must carry it, or listen on 127.0.0.1.");
        }
        return errors;
    }

    public static bool IsLoopback(BindingAddress address)
    {
        if (address.IsUnixPipe) return true; // a local socket file, not the network
        string host = address.Host.Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
               || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }
}
