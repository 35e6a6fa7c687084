using System.Net;
using Dt.Hosting;
using Dt.Silo.Configuration;

namespace Dt.Silo;

/// <summary>
/// What a node prints once, after generating its keys: where they are, and the exact command that starts another
/// node on this machine and joins it to this one (the network key admits it; this master's public key makes it
/// trust this master's changes).
/// </summary>
internal static class JoinHint
{
    public static string Format(DtOptions options, NodeKeys keys, int? peerPort, IReadOnlyCollection<string> apiUrls)
    {
        string host = PeerHost(options.ListenAddress);
        int port = peerPort ?? options.Port;
        int apiPort = apiUrls.Select(BindingAddress.Parse).Select(a => a.Port).FirstOrDefault(p => p > 0, 9780);
        var args = new List<string>
        {
            "--Dt:Master=false",
            $"--Dt:Port={(port == 0 ? 0 : port + 1)}",
            $"--Dt:Peers:0={(host.Contains(':') ? $"[{host}]" : host)}:{port}",
            $"--Dt:Key={options.Key}",
        };
        var trusted = options.TrustedMasterKeys.ToList();
        if (keys.MasterPublicKey is { } own && !trusted.Contains(own)) trusted.Insert(0, own);
        for (int i = 0; i < trusted.Count; i++) args.Add($"--Dt:TrustedMasterKeys:{i}={trusted[i]}");
        if (options.Network != new DtOptions().Network) args.Add($"--Dt:Network={options.Network}");
        // Its own data directory: nodes on one machine must not share one.
        args.Add($"--Dt:DataDir={options.DataDir.TrimEnd('/', '\\')}-2");
        args.Add($"--urls http://127.0.0.1:{apiPort + 1}");
        string joined = string.Join(' ', args);

        var lines = new List<string> { "", "=== Dt: keys generated ===" };
        if (keys.Network == KeySource.Generated)
            lines.Add($"New network key, stored in {keys.NetworkFile.Path} (mode 600; it admits nodes to this network, keep it secret):");
        else
            lines.Add("Network key:");
        lines.Add($"  {options.Key}");
        if (keys.Master == KeySource.Generated)
        {
            lines.Add($"New master signing key, stored in {keys.MasterFile.Path} (mode 600; never share it). Its public key,");
            lines.Add("which every node lists in Dt:TrustedMasterKeys to accept this master's changes:");
            lines.Add($"  {keys.MasterPublicKey}");
        }
        lines.AddRange([
            "Start a second node on this machine and join it to this one with:",
            $"  dotnet run --project src/Dt.Silo -- {joined}",
            "or, from a published build:",
            $"  dotnet Dt.Silo.dll {joined}",
            "(from another machine, use this machine's address in --Dt:Peers:0; this message is printed only once)",
            "==========================",
            "",
        ]);
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The address a node on this machine dials to reach a listener on <paramref name="listen"/>.</summary>
    private static string PeerHost(string listen) =>
        IPAddress.TryParse(listen, out var ip) && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.IPv6Any) && !IPAddress.IsLoopback(ip)
            ? ip.ToString()
            : "127.0.0.1";
}
