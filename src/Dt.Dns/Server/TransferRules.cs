using System.Net;
using Dt.Dns.Wire;

namespace Dt.Dns.Server;

/// <summary>
/// One <c>Dns:TransferAllow</c> entry: an address or CIDR range, optionally with the TSIG key its transfers must be
/// signed with ("10.0.0.0/8", "192.0.2.7 key xfr-key"), or a key alone ("key xfr-key": any address with that key).
/// A <c>Dns:Notify</c> entry may name a key the same way ("192.0.2.7:53 key xfr-key"): its NOTIFYs are signed with it.
/// </summary>
internal sealed record TransferRule(AddressRange? Range, DnsName? Key)
{
    /// <summary>Splits "what [key NAME]"; false if the "key" part is malformed. <paramref name="what"/> is "" for "key NAME".</summary>
    public static bool TrySplitKey(string text, out string what, out DnsName? key)
    {
        what = "";
        key = null;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var parts = text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        int k = Array.FindIndex(parts, p => p.Equals("key", StringComparison.OrdinalIgnoreCase));
        if (k < 0)
        {
            if (parts.Length != 1) return false;
            what = parts[0];
            return true;
        }
        if (k > 1 || k != parts.Length - 2) return false;
        if (!DnsName.TryParse(parts[k + 1].TrimEnd('.') + ".", null, out var name, out _)) return false;
        key = name!.ToLowerCase();
        what = k == 1 ? parts[0] : "";
        return true;
    }

    public static bool TryParse(string text, out TransferRule rule)
    {
        rule = null!;
        if (!TrySplitKey(text, out var what, out var key)) return false;
        if (what.Length == 0)
        {
            if (key is null) return false;
            rule = new TransferRule(null, key);
            return true;
        }
        if (!AddressRange.TryParse(what, out var range)) return false;
        rule = new TransferRule(range, key);
        return true;
    }

    public bool Covers(IPAddress remote) => Range is null || Range.Contains(remote);
}

/// <summary>The transfer access list: <see cref="TransferRule"/>s, each allowing its addresses, with its key if it names one.</summary>
internal sealed class TransferRules(IReadOnlyList<TransferRule> rules)
{
    public IReadOnlyList<TransferRule> Rules => rules;

    /// <summary>
    /// Whether <paramref name="remote"/> may transfer, signed with <paramref name="signedWith"/> (a key whose TSIG
    /// verified, or null). Null if allowed; otherwise why not.
    /// </summary>
    public string? Refusal(IPAddress remote, DnsName? signedWith)
    {
        var covering = rules.Where(r => r.Covers(remote)).ToList();
        if (covering.Count == 0) return "not in Dns:TransferAllow or Dns:Notify";
        if (covering.Any(r => r.Key is null || (signedWith is not null && r.Key.Equals(signedWith)))) return null;
        var keys = string.Join(", ", covering.Select(r => r.Key!.ToString()).Distinct());
        return signedWith is null ? $"unsigned; Dns:TransferAllow requires TSIG key {keys}" : $"signed with key {signedWith}; Dns:TransferAllow requires {keys}";
    }

    /// <summary>The key a transfer rule for exactly this address names (to sign NOTIFYs to it), if any.</summary>
    public DnsName? KeyFor(IPAddress address) => rules.FirstOrDefault(r => r.Key is not null && r.Range is not null && r.Range.Contains(address))?.Key;
}
