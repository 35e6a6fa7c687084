using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Dt.Dns.Server;

namespace Dt.Dns;

/// <summary>A TSIG key (RFC 8945) that may sign UPDATE requests. Only hmac-sha256 is supported.</summary>
public sealed class DnsTsigKey
{
    /// <summary>Key name, as nsupdate's <c>-y hmac-sha256:NAME:SECRET</c> gives it (e.g. "update-key").</summary>
    public string Name { get; set; } = "";

    /// <summary>Algorithm; "hmac-sha256" (the default) is the only one accepted.</summary>
    public string Algorithm { get; set; } = "hmac-sha256";

    /// <summary>The shared secret, base64 (e.g. from <c>tsig-keygen</c> or <c>openssl rand -base64 32</c>).</summary>
    public string Secret { get; set; } = "";
}

/// <summary>
/// Settings of the DNS service (configuration section "Dns"). Every setting has a default that serves safely:
/// nothing may transfer zones or send UPDATEs until allowed here. <see cref="Validate"/> names every bad setting.
/// </summary>
public sealed class DnsOptions
{
    public const string Section = "Dns";

    /// <summary>Whether a host (the silo) starts the DNS service. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>The Dt table holding the zones. Default "dns".</summary>
    public string Table { get; set; } = "dns";

    /// <summary>Address to answer on (UDP and TCP). "::" answers on IPv6 and IPv4. Default "::".</summary>
    public string ListenAddress { get; set; } = "::";

    /// <summary>Port for UDP and TCP; 0 picks a free port (the same for both). Default 53.</summary>
    public int Port { get; set; } = 53;

    /// <summary>Concurrent UDP receive loops (each answers one query at a time). 0: twice the processor count, at least 2. Default 0.</summary>
    public int UdpReceivers { get; set; }

    /// <summary>
    /// Whole UDP answers kept per receive thread for repeated plain questions (no EDNS options, no TSIG), valid until
    /// the zones change; each entry holds the question and the answer's bytes (about 100-600 bytes). 0 turns the cache
    /// off. Default 16,384.
    /// </summary>
    public int AnswerCacheSize { get; set; } = 16_384;

    /// <summary>
    /// Response rate limiting (RRL, against reflection attacks with spoofed sources): UDP answers per second to one
    /// client prefix (<see cref="RateLimitIPv4Prefix"/>, <see cref="RateLimitIPv6Prefix"/>); a burst of one second's
    /// worth passes, answers beyond are limited (see <see cref="RateLimitSlip"/>). TCP is never limited. 0 turns it
    /// off. Default 0 (off); BIND's documentation suggests 5 to 20 for an authoritative server on the Internet.
    /// </summary>
    public int RateLimitResponsesPerSecond { get; set; }

    /// <summary>
    /// Every Nth limited answer is sent as an empty truncated answer (TC=1), so a real client behind the prefix retries
    /// over TCP and gets through; the others are dropped. 1: every limited answer truncated; 0: all dropped. Default 2 (as BIND).
    /// </summary>
    public int RateLimitSlip { get; set; } = 2;

    /// <summary>IPv4 clients are limited together per prefix of this length. Default 24.</summary>
    public int RateLimitIPv4Prefix { get; set; } = 24;

    /// <summary>IPv6 clients are limited together per prefix of this length. Default 56.</summary>
    public int RateLimitIPv6Prefix { get; set; } = 56;

    /// <summary>Addresses or CIDR ranges never rate limited (monitoring, your own resolvers). Default none.</summary>
    public List<string> RateLimitExempt { get; set; } = [];

    /// <summary>Client prefixes tracked at most by rate limiting; beyond, a new prefix goes unlimited until idle ones are swept. Default 100,000.</summary>
    public int RateLimitTableSize { get; set; } = 100_000;

    /// <summary>Largest UDP response to an EDNS client (RFC 6891; 1232 avoids IP fragmentation). Clients without EDNS get 512. Default 1232.</summary>
    public int MaxUdpPayload { get; set; } = 1232;

    /// <summary>Open TCP connections at once; more are closed on accept. Default 256.</summary>
    public int MaxTcpConnections { get; set; } = 256;

    /// <summary>A TCP connection idle this long is closed (RFC 7766 suggests seconds). Default 10 s.</summary>
    public TimeSpan TcpIdleTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Who may AXFR/IXFR: an address or CIDR range ("10.0.0.0/8"), optionally followed by "key NAME" (one of
    /// <see cref="TsigKeys"/>): then transfers from there must be TSIG-signed with that key, and unsigned or wrongly
    /// signed ones are refused (REFUSED, or NOTAUTH for a bad signature) and logged, at most 10 lines a minute.
    /// "key NAME" alone allows any address that signs with the key. The addresses in <see cref="Notify"/> are allowed
    /// too, with the key their entry names. Default none.
    /// </summary>
    public List<string> TransferAllow { get; set; } = [];

    /// <summary>
    /// Secondaries sent a NOTIFY (RFC 1996) whenever a zone's serial changes here: "ip", "ip:port" or "[v6]:port"
    /// (port 53 if omitted), optionally followed by "key NAME" (one of <see cref="TsigKeys"/>) to sign the NOTIFYs and
    /// require that key on the secondary's transfers. Without a key named here, the key of a <see cref="TransferAllow"/>
    /// entry covering the address signs them. Default none.
    /// </summary>
    public List<string> Notify { get; set; } = [];

    /// <summary>NOTIFY sends per change to a secondary that does not answer. Default 5.</summary>
    public int NotifyRetries { get; set; } = 5;

    /// <summary>Wait for a NOTIFY answer before resending; doubles after each try, up to a minute. Default 2 s.</summary>
    public TimeSpan NotifyRetryInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Addresses or CIDR ranges allowed RFC 2136 UPDATE without a TSIG signature. Default none.</summary>
    public List<string> UpdateAllow { get; set; } = [];

    /// <summary>TSIG keys: accepted on UPDATE (a valid signature allows the update from any address), and named by
    /// <see cref="TransferAllow"/> and <see cref="Notify"/> entries for transfers and NOTIFY. Queries signed with one are
    /// answered signed. Default none.</summary>
    public List<DnsTsigKey> TsigKeys { get; set; } = [];

    /// <summary>Clock difference allowed on TSIG-signed requests (RFC 8945 fudge). Default 300 s.</summary>
    public TimeSpan TsigFudge { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>UPDATE requests over UDP waiting to be applied; when full, new ones get SERVFAIL. Default 64.</summary>
    public int UpdateQueueSize { get; set; } = 64;

    /// <summary>Resolver this node asks for world-valid lookups, "ip" or "ip:port"; null: the first nameserver of /etc/resolv.conf. Default null.</summary>
    public string? Resolver { get; set; }

    /// <summary>How long a world-valid lookup waits for each node's resolver, and the requester for answers. Default 2 s.</summary>
    public TimeSpan LookupTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Whether this node answers world-valid lookup requests from the network. Default true.</summary>
    public bool AnswerLookups { get; set; } = true;

    /// <summary>Lookup requests queued for this node's resolver; when full, new ones are dropped (the requester sees no answer from this node). Default 16.</summary>
    public int LookupQueueSize { get; set; } = 16;

    /// <summary>How often a master checks for zones whose content matches no serial (a change cut short, or two masters at once). Default 1 s.</summary>
    public TimeSpan KeeperInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a zone may match no serial before a master re-commits a serial for what it holds. Default 5 s.</summary>
    public TimeSpan KeeperGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the object count followed is compared with the table's (guards remote factories). Default 10 s.</summary>
    public TimeSpan ResyncCheckInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Zone versions kept per zone for incremental transfers (older clients get a full transfer). Default 32.</summary>
    public int IxfrJournalSize { get; set; } = 32;

    /// <summary>Records kept in a zone's IXFR journal at most. Default 100,000.</summary>
    public int IxfrJournalMaxRecords { get; set; } = 100_000;

    /// <summary>Target size of each message of a zone transfer. Default 16,384 bytes.</summary>
    public int TransferMessageSize { get; set; } = 16_384;

    /// <summary>TTL of records added without one. Default 3600 s.</summary>
    public uint DefaultTtl { get; set; } = 3600;

    /// <summary>How long a change made here waits to be in service here before the call returns. Default 5 s.</summary>
    public TimeSpan CommitTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Zones this node signs with DNSSEC when it is a master (names, e.g. "example.test"). Each needs keys in
    /// <see cref="KeyDirectory"/> (or <see cref="GenerateKeys"/>). The signatures, DNSKEY and NSEC records are
    /// replicated like any record, so other nodes need no setting to serve them. Default none.
    /// </summary>
    public List<string> SignedZones { get; set; } = [];

    /// <summary>
    /// Directory of the signed zones' keys, in BIND's format (K&lt;zone&gt;.+013+&lt;tag&gt;.key and .private, as
    /// <c>dnssec-keygen -a ECDSAP256SHA256</c> writes them; timing metadata from <c>dnssec-settime</c> is honoured).
    /// Read on every signing pass; never replicated. Required with <see cref="SignedZones"/>. Default none.
    /// </summary>
    public string? KeyDirectory { get; set; }

    /// <summary>Whether a master creates a KSK and a ZSK (algorithm 13) in <see cref="KeyDirectory"/> for a signed zone that has no key there. Default true.</summary>
    public bool GenerateKeys { get; set; } = true;

    /// <summary>How long a new signature is valid (its expiration is this far from now; its inception an hour before now). Default 14 days.</summary>
    public TimeSpan SignatureValidity { get; set; } = TimeSpan.FromDays(14);

    /// <summary>A signature with less than this left before it expires is replaced on the next signing pass. Default 5 days.</summary>
    public TimeSpan SignatureRefresh { get; set; } = TimeSpan.FromDays(5);

    /// <summary>How often a master re-reads the keys and re-signs what is due in its signed zones. Default 10 minutes.</summary>
    public TimeSpan SigningInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A fast profile for tests: loopback, a free port, loopback allowed to transfer, short timers.</summary>
    public static DnsOptions ForTests() => new()
    {
        Enabled = true,
        ListenAddress = "127.0.0.1",
        Port = 0,
        UdpReceivers = 2,
        TransferAllow = ["127.0.0.0/8"],
        NotifyRetryInterval = TimeSpan.FromMilliseconds(500),
        KeeperInterval = TimeSpan.FromMilliseconds(250),
        KeeperGrace = TimeSpan.FromSeconds(2),
        ResyncCheckInterval = TimeSpan.FromSeconds(2),
        LookupTimeout = TimeSpan.FromSeconds(2),
    };

    /// <summary>Every problem with the settings, one message each, naming the setting ("Dns:Port ...").</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Table) || Table.Length > 128 || !Table.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':' or '/'))
            errors.Add($"Dns:Table '{Table}' must be 1 to 128 letters, digits, '.', '_', '-', ':' or '/'.");
        if (!IPAddress.TryParse(ListenAddress, out _))
            errors.Add($"Dns:ListenAddress '{ListenAddress}' is not an IP address.");
        if (Port is < 0 or > 65535)
            errors.Add($"Dns:Port {Port} must be between 0 and 65535.");
        if (UdpReceivers is < 0 or > 256)
            errors.Add($"Dns:UdpReceivers {UdpReceivers} must be between 0 (automatic) and 256.");
        if (AnswerCacheSize is < 0 or > 10_000_000)
            errors.Add($"Dns:AnswerCacheSize {AnswerCacheSize} must be between 0 (off) and 10000000.");
        if (RateLimitResponsesPerSecond is < 0 or > 10_000_000)
            errors.Add($"Dns:RateLimitResponsesPerSecond {RateLimitResponsesPerSecond} must be between 0 (off) and 10000000.");
        if (RateLimitSlip is < 0 or > 10)
            errors.Add($"Dns:RateLimitSlip {RateLimitSlip} must be between 0 (drop every limited answer) and 10.");
        if (RateLimitIPv4Prefix is < 8 or > 32)
            errors.Add($"Dns:RateLimitIPv4Prefix {RateLimitIPv4Prefix} must be between 8 and 32.");
        if (RateLimitIPv6Prefix is < 16 or > 128)
            errors.Add($"Dns:RateLimitIPv6Prefix {RateLimitIPv6Prefix} must be between 16 and 128.");
        if (RateLimitTableSize is < 16 or > 10_000_000)
            errors.Add($"Dns:RateLimitTableSize {RateLimitTableSize} must be between 16 and 10000000.");
        for (int i = 0; i < RateLimitExempt.Count; i++)
            if (!AddressRange.TryParse(RateLimitExempt[i], out _))
                errors.Add($"Dns:RateLimitExempt:{i} '{RateLimitExempt[i]}' is not an IP address or CIDR range.");
        if (MaxUdpPayload is < 512 or > 65535)
            errors.Add($"Dns:MaxUdpPayload {MaxUdpPayload} must be between 512 and 65535.");
        if (MaxTcpConnections is < 1 or > 100_000)
            errors.Add($"Dns:MaxTcpConnections {MaxTcpConnections} must be between 1 and 100000.");
        var keyNames = TsigKeys.Select(k => Wire.DnsName.TryParse(k.Name.TrimEnd('.') + ".", null, out var n, out _) ? n.ToLowerCase().Key : null)
            .OfType<string>().ToHashSet(StringComparer.Ordinal);
        for (int i = 0; i < TransferAllow.Count; i++)
        {
            if (!TransferRule.TryParse(TransferAllow[i], out var rule))
                errors.Add($"Dns:TransferAllow:{i} '{TransferAllow[i]}' must be an IP address or CIDR range, optionally followed by 'key NAME', or 'key NAME' alone.");
            else if (rule.Key is not null && !keyNames.Contains(rule.Key.Key))
                errors.Add($"Dns:TransferAllow:{i} '{TransferAllow[i]}' names TSIG key '{rule.Key}', which is not in Dns:TsigKeys.");
        }
        for (int i = 0; i < UpdateAllow.Count; i++)
            if (!AddressRange.TryParse(UpdateAllow[i], out _))
                errors.Add($"Dns:UpdateAllow:{i} '{UpdateAllow[i]}' is not an IP address or CIDR range.");
        for (int i = 0; i < Notify.Count; i++)
        {
            if (!TransferRule.TrySplitKey(Notify[i], out var target, out var key) || !TryParseEndPoint(target, 53, out _))
                errors.Add($"Dns:Notify:{i} '{Notify[i]}' must be ip, ip:port or [ipv6]:port, optionally followed by 'key NAME'.");
            else if (key is not null && !keyNames.Contains(key.Key))
                errors.Add($"Dns:Notify:{i} '{Notify[i]}' names TSIG key '{key}', which is not in Dns:TsigKeys.");
        }
        if (Resolver is not null && !TryParseEndPoint(Resolver, 53, out _))
            errors.Add($"Dns:Resolver '{Resolver}' must be ip, ip:port or [ipv6]:port.");
        for (int i = 0; i < TsigKeys.Count; i++)
        {
            var k = TsigKeys[i];
            if (string.IsNullOrWhiteSpace(k.Name) || !Wire.DnsName.TryParse(k.Name.TrimEnd('.') + ".", null, out _, out _))
                errors.Add($"Dns:TsigKeys:{i}:Name '{k.Name}' is not a key name (a domain name).");
            if (!string.Equals(k.Algorithm.TrimEnd('.'), "hmac-sha256", StringComparison.OrdinalIgnoreCase))
                errors.Add($"Dns:TsigKeys:{i}:Algorithm '{k.Algorithm}' is not supported; use hmac-sha256.");
            if (!TryBase64(k.Secret, out var secret) || secret.Length < 16)
                errors.Add($"Dns:TsigKeys:{i}:Secret must be base64 of at least 16 bytes (e.g. `openssl rand -base64 32`).");
        }
        if (NotifyRetries is < 1 or > 100) errors.Add($"Dns:NotifyRetries {NotifyRetries} must be between 1 and 100.");
        if (UpdateQueueSize is < 1 or > 100_000) errors.Add($"Dns:UpdateQueueSize {UpdateQueueSize} must be between 1 and 100000.");
        if (LookupQueueSize is < 1 or > 100_000) errors.Add($"Dns:LookupQueueSize {LookupQueueSize} must be between 1 and 100000.");
        if (IxfrJournalSize is < 0 or > 10_000) errors.Add($"Dns:IxfrJournalSize {IxfrJournalSize} must be between 0 and 10000.");
        if (IxfrJournalMaxRecords < 0) errors.Add($"Dns:IxfrJournalMaxRecords {IxfrJournalMaxRecords} must not be negative.");
        if (TransferMessageSize is < 512 or > 65535) errors.Add($"Dns:TransferMessageSize {TransferMessageSize} must be between 512 and 65535.");
        if (DefaultTtl > int.MaxValue) errors.Add($"Dns:DefaultTtl {DefaultTtl} must be at most 2147483647.");
        ValidateDnssec(errors);
        Positive(errors, TcpIdleTimeout, nameof(TcpIdleTimeout));
        Positive(errors, NotifyRetryInterval, nameof(NotifyRetryInterval));
        Positive(errors, TsigFudge, nameof(TsigFudge));
        Positive(errors, LookupTimeout, nameof(LookupTimeout));
        Positive(errors, KeeperInterval, nameof(KeeperInterval));
        Positive(errors, KeeperGrace, nameof(KeeperGrace));
        Positive(errors, ResyncCheckInterval, nameof(ResyncCheckInterval));
        Positive(errors, CommitTimeout, nameof(CommitTimeout));
        return errors;
    }

    private void ValidateDnssec(List<string> errors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < SignedZones.Count; i++)
        {
            string z = SignedZones[i] ?? "";
            if (string.IsNullOrWhiteSpace(z) || !Wire.DnsName.TryParse(z.TrimEnd('.') + ".", null, out var name, out var error) || name.IsRoot)
                errors.Add($"Dns:SignedZones:{i} '{z}' is not a zone name.");
            else if (!seen.Add(name.ToLowerCase().Key))
                errors.Add($"Dns:SignedZones:{i} '{z}' is listed twice.");
        }
        if (SignedZones.Count > 0 && string.IsNullOrWhiteSpace(KeyDirectory))
            errors.Add("Dns:KeyDirectory must be set when Dns:SignedZones lists zones (the directory of their DNSSEC keys).");
        else if (!string.IsNullOrWhiteSpace(KeyDirectory) && !Directory.Exists(KeyDirectory))
            errors.Add($"Dns:KeyDirectory '{KeyDirectory}' is not a directory.");
        if (SignatureValidity < TimeSpan.FromHours(2) || SignatureValidity > TimeSpan.FromDays(365))
            errors.Add($"Dns:SignatureValidity {SignatureValidity} must be between 2 hours and 365 days.");
        if (SignatureRefresh <= TimeSpan.Zero || SignatureRefresh >= SignatureValidity)
            errors.Add($"Dns:SignatureRefresh {SignatureRefresh} must be positive and shorter than Dns:SignatureValidity ({SignatureValidity}).");
        Positive(errors, SigningInterval, nameof(SigningInterval));
        if (SigningInterval > TimeSpan.Zero && SignatureRefresh > TimeSpan.Zero && SigningInterval * 2 > SignatureRefresh)
            errors.Add($"Dns:SigningInterval {SigningInterval} must be at most half of Dns:SignatureRefresh ({SignatureRefresh}), so every signature is renewed in time.");
    }

    /// <summary>The zones of <see cref="SignedZones"/> as names (lower case).</summary>
    internal IReadOnlyList<Wire.DnsName> SignedZoneNames() =>
        SignedZones.Select(z => Wire.DnsName.TryParse(z.TrimEnd('.') + ".", null, out var n, out _) ? n.ToLowerCase() : null).OfType<Wire.DnsName>().ToList();

    private static void Positive(List<string> errors, TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero) errors.Add($"Dns:{name} {value} must be positive.");
    }

    internal static bool TryBase64(string? s, out byte[] bytes)
    {
        bytes = [];
        if (string.IsNullOrWhiteSpace(s)) return false;
        try
        {
            bytes = Convert.FromBase64String(s.Trim());
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>Parses "ip", "ip:port", "[v6]:port" or a bare IPv6 address.</summary>
    public static bool TryParseEndPoint(string text, int defaultPort, out IPEndPoint endPoint)
    {
        endPoint = new IPEndPoint(IPAddress.None, 0);
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim();
        if (IPAddress.TryParse(text, out var bare) && !text.StartsWith('['))
        {
            endPoint = new IPEndPoint(bare, defaultPort);
            return true;
        }
        if (!IPEndPoint.TryParse(text, out var ep)) return false;
        if (ep.Port == 0 && !text.EndsWith(":0", StringComparison.Ordinal)) ep.Port = defaultPort;
        if (ep.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)) return false;
        endPoint = ep;
        return true;
    }

    internal IReadOnlyList<IPEndPoint> NotifyEndPoints() => NotifyTargets().Select(t => t.EndPoint).ToList();

    /// <summary>The NOTIFY targets with the key each entry names (null if none).</summary>
    internal IReadOnlyList<(IPEndPoint EndPoint, Wire.DnsName? Key)> NotifyTargets()
    {
        var list = new List<(IPEndPoint, Wire.DnsName?)>();
        foreach (var n in Notify)
            if (TransferRule.TrySplitKey(n, out var target, out var key) && TryParseEndPoint(target, 53, out var ep)) list.Add((ep, key));
        return list;
    }

    internal int EffectiveUdpReceivers => UdpReceivers > 0 ? UdpReceivers : Math.Max(2, 2 * Environment.ProcessorCount);

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
