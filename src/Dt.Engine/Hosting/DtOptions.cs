using System.Net;
using System.Text.RegularExpressions;

namespace Dt.Hosting;

/// <summary>
/// Everything a Dt node can be told. Bound from the "Dt" configuration section; every default is stated here and
/// checked by <see cref="Validate"/> before the node starts. <see cref="ForTests"/> returns a fast profile.
/// </summary>
public sealed partial class DtOptions
{
    public const string Section = "Dt";

    /// <summary>
    /// Stable name of this node, by which callers address it (<c>n2</c> in grain keys; shown in /v1/node): 1 to 128
    /// letters, digits, '.', '_', '-' or ':'. Unlike the node id, which is new at every start, it survives restarts.
    /// Default null: in an Orleans silo the silo's name, in Dt.Silo "{host}-{Dt:Port}", in a bare engine none.
    /// </summary>
    public string? NodeName { get; set; }

    /// <summary>Name of the network. Bound into every link's keys: networks with different names never join. Default "dt".</summary>
    public string Network { get; set; } = "dt";

    /// <summary>The pre-shared network key, 32 bytes as base64 or hex. Required (the silo generates one on first start).</summary>
    public string? Key { get; set; }

    /// <summary>Further accepted keys, for rotation without downtime: install the new key here everywhere, make it
    /// <see cref="Key"/> everywhere, then remove the old one.</summary>
    public List<string> AcceptKeys { get; set; } = [];

    /// <summary>Whether this node may add and remove objects. Default false.</summary>
    public bool Master { get; set; }

    /// <summary>This master's private signing key (ECDSA P-256, PKCS#8, base64). Required when <see cref="Master"/> is
    /// true; every change the master makes is signed with it. The silo generates one in <see cref="DataDir"/>.</summary>
    public string? MasterKey { get; set; }

    /// <summary>Public keys (SubjectPublicKeyInfo, base64) of the masters whose changes this node accepts. A master
    /// always trusts its own key. A change no trusted master signed is dropped and reported as an error event.</summary>
    public List<string> TrustedMasterKeys { get; set; } = [];

    /// <summary>Whether to accept inbound peers. A master behind NAT runs with false and takes part through its outbound link. Default true.</summary>
    public bool Listen { get; set; } = true;

    /// <summary>Address to listen on for peers. "::" listens on IPv6 and IPv4 (dual mode). Default "::".</summary>
    public string ListenAddress { get; set; } = "::";

    /// <summary>TCP port for peers; 0 picks any free port. Default 9700.</summary>
    public int Port { get; set; } = 9700;

    /// <summary>Peers to link to, "host:port" or "[v6]:port". The node keeps one primary outbound link among them and the
    /// nodes it discovers, chosen by fewest failures, then lowest average round-trip time.</summary>
    public List<string> Peers { get; set; } = [];

    /// <summary>Interval of link pings (round-trip samples, keep-alive). Default 2 s.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A link that has received nothing for this long is closed. Default 10 s.</summary>
    public TimeSpan LinkIdleTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Round-trip samples kept per peer, and pings of a node test. Default 20.</summary>
    public int RttSamples { get; set; } = 20;

    /// <summary>How often a candidate peer is tested (pinged over a short-lived link) to compare it with the primary. Default 60 s.</summary>
    public TimeSpan NodeTestInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The handshake of a new link must finish within this. Default 5 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First delay before re-dialing after a failure; doubles per failure up to <see cref="ReconnectMaxDelay"/>. Default 500 ms.</summary>
    public TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest delay between re-dials. Default 30 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often each outbound link runs reconciliation (it also runs when the link forms). Default 30 s.</summary>
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a node floods its presence; fragments of the overlay find each other through it. Default 5 s.</summary>
    public TimeSpan AnnounceInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A known node not heard from for this long is purged from the candidates (configured peers never are). Default 10 min.</summary>
    public TimeSpan PurgeAfter { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most outbound links: the primary plus links that join fragments. Default 3.</summary>
    public int MaxOutboundLinks { get; set; } = 3;

    /// <summary>Most inbound links in all, and per remote IP. Defaults 1024 and 64.</summary>
    public int MaxInboundLinks { get; set; } = 1024;

    public int MaxInboundLinksPerIp { get; set; } = 64;

    /// <summary>New handshakes accepted per second from one IP (IPv6: per /64), with bursts of twice that. Default 20.</summary>
    public double MaxHandshakesPerSecondPerIp { get; set; } = 20;

    /// <summary>How long a message id is remembered, so every node handles a message once. Default 5 min.</summary>
    public TimeSpan MessageIdWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Most message ids remembered; beyond it the oldest are forgotten early. Default 1,000,000.</summary>
    public int MaxRememberedMessageIds { get; set; } = 1_000_000;

    /// <summary>How long a removal is remembered so that nodes offline meanwhile still apply it. Default 30 days.</summary>
    public TimeSpan TombstoneRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Largest frame accepted from a peer; checked before anything is buffered. Default 16 MiB.</summary>
    public int MaxFrameBytes { get; set; } = 16 << 20;

    /// <summary>Largest object (canonical JSON bytes). Default 1 MiB.</summary>
    public int MaxObjectBytes { get; set; } = 1 << 20;

    /// <summary>Largest broadcast message (JSON bytes). Default 1 MiB.</summary>
    public int MaxMessageBytes { get; set; } = 1 << 20;

    /// <summary>Most objects per table (adds beyond it are refused on masters). Default 10,000,000.</summary>
    public long MaxObjectsPerTable { get; set; } = 10_000_000;

    /// <summary>Bytes queued toward one peer before live traffic to it is cut (the peer is disconnected and re-syncs
    /// by reconciliation when it returns). Default 64 MiB.</summary>
    public long MaxPeerQueueBytes { get; set; } = 64L << 20;

    /// <summary>
    /// Object JSON taken in (synced, imported, or loaded from disk at start) after which the node, once quiet for a
    /// second, runs one full collection that returns to the system the memory the GC kept for the transfer; at most
    /// once per 30 s. 0 turns it off (a host that manages the GC itself). Default 64 MiB.
    /// </summary>
    public long TrimMemoryAfterBytes { get; set; } = 64L << 20;

    /// <summary>Events kept for subscribers that resume. Default 10,000.</summary>
    public int EventBufferSize { get; set; } = 10_000;

    /// <summary>Events queued per subscriber; a subscriber that falls further behind is ended and may resume. Default 10,000.</summary>
    public int SubscriberQueueSize { get; set; } = 10_000;

    /// <summary>Failed handshakes from one IP (IPv6: per /64) within <see cref="IpFailureWindow"/> before it is blocked. Default 10.</summary>
    public int IpFailureLimit { get; set; } = 10;

    public TimeSpan IpFailureWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a blocked IP stays blocked. Default 10 min.</summary>
    public TimeSpan IpBlockDuration { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Never block loopback addresses. Default true.</summary>
    public bool NeverBlockLoopback { get; set; } = true;

    /// <summary>Addresses or CIDR ranges never blocked.</summary>
    public List<string> IpAllowList { get; set; } = [];

    /// <summary>Per remote address (IPv6: per /64), at most one warning line about refused connections, refused
    /// handshakes or rejected messages per this interval; the first is logged at once, the rest are counted and
    /// summed up in one line per address and interval ("Refused 4,212 connections from 192.0.2.7 in the last minute").
    /// Default 1 min.</summary>
    public TimeSpan PeerWarningInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Directory for the node's data: tables (with <see cref="DtStorage.Disk"/>), and the silo's keys. Default "dt-data".</summary>
    public string DataDir { get; set; } = "dt-data";

    /// <summary>Where tables live: <see cref="DtStorage.Disk"/> (an append-only log and snapshot under DataDir/tables;
    /// a restart comes back with what the node had) or <see cref="DtStorage.Memory"/> (tests, caches). Default Disk.</summary>
    public DtStorage Storage { get; set; } = DtStorage.Disk;

    /// <summary>A fast profile for tests: loopback, any port, short timers.</summary>
    public static DtOptions ForTests(string key, bool master = false, string? masterKey = null) => new()
    {
        Key = key,
        Master = master,
        MasterKey = masterKey,
        ListenAddress = "127.0.0.1",
        Port = 0,
        PingInterval = TimeSpan.FromMilliseconds(200),
        LinkIdleTimeout = TimeSpan.FromSeconds(3),
        NodeTestInterval = TimeSpan.FromSeconds(2),
        HandshakeTimeout = TimeSpan.FromSeconds(3),
        ReconnectBaseDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        SyncInterval = TimeSpan.FromSeconds(1),
        AnnounceInterval = TimeSpan.FromMilliseconds(250),
        PurgeAfter = TimeSpan.FromSeconds(30),
        RttSamples = 5,
        Storage = DtStorage.Memory,
    };

    /// <summary>Every problem with these options, each naming its setting; empty when they are valid.</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Network) || Network.Length > 64 || !NetworkName().IsMatch(Network))
            errors.Add($"Dt:Network '{Network}' must be 1 to 64 characters of letters, digits, '.', '_' or '-'.");
        if (NodeName is not null && !DtGrainKeys.IsValidNodeName(NodeName))
            errors.Add($"Dt:NodeName '{NodeName}' must be 1 to {DtGrainKeys.MaxNodeNameLength} letters, digits, '.', '_', '-' or ':'.");
        if (string.IsNullOrWhiteSpace(Key))
            errors.Add("Dt:Key is required: a 32-byte network key as base64 or hex (e.g. from `openssl rand -base64 32`).");
        else if (!Security.NetworkKey.TryParse(Key, out _))
            errors.Add("Dt:Key is not a 32-byte key written as base64 (44 characters) or hex (64 characters).");
        if (Master && !Security.MasterSigningKey.TryParse(MasterKey, out _))
            errors.Add(string.IsNullOrWhiteSpace(MasterKey)
                ? "Dt:MasterKey is required on a master: its ECDSA P-256 signing key (PKCS#8, base64)."
                : "Dt:MasterKey is not an ECDSA P-256 private key in PKCS#8, base64.");
        for (int i = 0; i < TrustedMasterKeys.Count; i++)
            if (!Security.TrustedMasters.TryParsePublic(TrustedMasterKeys[i], out _))
                errors.Add($"Dt:TrustedMasterKeys:{i} is not an ECDSA P-256 public key (SubjectPublicKeyInfo, base64).");
        for (int i = 0; i < AcceptKeys.Count; i++)
            if (!Security.NetworkKey.TryParse(AcceptKeys[i], out _))
                errors.Add($"Dt:AcceptKeys:{i} is not a 32-byte key written as base64 or hex.");
        if (Listen && (Port < 0 || Port > 65535))
            errors.Add($"Dt:Port {Port} must be between 0 and 65535.");
        if (Listen && !IPAddress.TryParse(ListenAddress, out _))
            errors.Add($"Dt:ListenAddress '{ListenAddress}' is not an IP address.");
        for (int i = 0; i < Peers.Count; i++)
            if (!Overlay.PeerAddress.TryParse(Peers[i], out _))
                errors.Add($"Dt:Peers:{i} '{Peers[i]}' must be host:port or [ipv6]:port.");
        Positive(errors, PingInterval, nameof(PingInterval));
        Positive(errors, HandshakeTimeout, nameof(HandshakeTimeout));
        Positive(errors, ReconnectBaseDelay, nameof(ReconnectBaseDelay));
        Positive(errors, SyncInterval, nameof(SyncInterval));
        Positive(errors, AnnounceInterval, nameof(AnnounceInterval));
        Positive(errors, MessageIdWindow, nameof(MessageIdWindow));
        Positive(errors, TombstoneRetention, nameof(TombstoneRetention));
        Positive(errors, NodeTestInterval, nameof(NodeTestInterval));
        Positive(errors, PeerWarningInterval, nameof(PeerWarningInterval));
        if (LinkIdleTimeout <= PingInterval * 2)
            errors.Add($"Dt:LinkIdleTimeout ({LinkIdleTimeout}) must be more than twice Dt:PingInterval ({PingInterval}).");
        if (ReconnectMaxDelay < ReconnectBaseDelay)
            errors.Add("Dt:ReconnectMaxDelay must not be shorter than Dt:ReconnectBaseDelay.");
        if (RttSamples is < 1 or > 1000) errors.Add($"Dt:RttSamples {RttSamples} must be between 1 and 1000.");
        if (MaxOutboundLinks is < 1 or > 64) errors.Add($"Dt:MaxOutboundLinks {MaxOutboundLinks} must be between 1 and 64.");
        if (MaxInboundLinks < 1) errors.Add("Dt:MaxInboundLinks must be at least 1.");
        if (MaxInboundLinksPerIp < 1) errors.Add("Dt:MaxInboundLinksPerIp must be at least 1.");
        if (MaxHandshakesPerSecondPerIp <= 0) errors.Add("Dt:MaxHandshakesPerSecondPerIp must be positive.");
        if (MaxFrameBytes < 1 << 20 || MaxFrameBytes > 256 << 20)
            errors.Add($"Dt:MaxFrameBytes {MaxFrameBytes} must be between 1 MiB and 256 MiB.");
        if (MaxObjectBytes < 16 || MaxObjectBytes > MaxFrameBytes - 1024)
            errors.Add($"Dt:MaxObjectBytes {MaxObjectBytes} must be at least 16 and at most Dt:MaxFrameBytes - 1024.");
        if (MaxMessageBytes < 16 || MaxMessageBytes > MaxFrameBytes - 1024)
            errors.Add($"Dt:MaxMessageBytes {MaxMessageBytes} must be at least 16 and at most Dt:MaxFrameBytes - 1024.");
        if (MaxObjectsPerTable < 1) errors.Add("Dt:MaxObjectsPerTable must be at least 1.");
        if (MaxPeerQueueBytes < 4L * MaxFrameBytes) errors.Add("Dt:MaxPeerQueueBytes must be at least 4 × Dt:MaxFrameBytes.");
        if (TrimMemoryAfterBytes < 0) errors.Add($"Dt:TrimMemoryAfterBytes {TrimMemoryAfterBytes} must be 0 (off) or more.");
        if (MaxRememberedMessageIds < 1000) errors.Add("Dt:MaxRememberedMessageIds must be at least 1000.");
        if (EventBufferSize < 1) errors.Add("Dt:EventBufferSize must be at least 1.");
        if (SubscriberQueueSize < 16) errors.Add("Dt:SubscriberQueueSize must be at least 16.");
        if (Storage == DtStorage.Disk && string.IsNullOrWhiteSpace(DataDir)) errors.Add("Dt:DataDir is required when Dt:Storage is Disk.");
        if (!Enum.IsDefined(Storage)) errors.Add($"Dt:Storage '{Storage}' must be Disk or Memory.");
        if (IpFailureLimit < 1) errors.Add("Dt:IpFailureLimit must be at least 1.");
        for (int i = 0; i < IpAllowList.Count; i++)
            if (!Security.IpAccessControl.TryParseRange(IpAllowList[i], out _))
                errors.Add($"Dt:IpAllowList:{i} '{IpAllowList[i]}' is not an IP address or CIDR range.");
        return errors;
    }

    private static void Positive(List<string> errors, TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero) errors.Add($"Dt:{name} must be positive (got {value}).");
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex NetworkName();
}

public enum DtStorage
{
    Disk,
    Memory,
}
