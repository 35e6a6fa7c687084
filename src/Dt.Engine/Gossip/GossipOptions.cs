using System.Text;

namespace Dt.Gossip;

/// <summary>
/// Settings of the gossip modules of a node: node state (scuttlebutt), membership and failure detection, the say/hear
/// event bus and shared maps. Every default is stated here and checked by <see cref="Validate"/>. The defaults are the
/// LAN profile (<see cref="Lan"/>); <see cref="ForTests"/> is a fast profile for in-process clusters.
/// <para>
/// A node is handed its gossip settings when it starts (<c>DtNode.StartAsync(..., gossip:)</c>, <c>AddDt(options, gossip)</c>;
/// <see cref="Lan"/> when none are given), and validates them then. Hosts bind them from the "Dt:Gossip" configuration section.
/// </para>
/// </summary>
public sealed class GossipOptions
{
    public const string Section = "Dt:Gossip";

    // ---- identity ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Name of this node in gossip state and membership (what <c>GetRemote(peer, key)</c> and peer lists use).
    /// Default null: the node's Dt:NodeName, else its node id. A node restarted with the same name is the same member in a new generation: its
    /// new writes replace everything its previous life wrote. Two live nodes must never share a name.
    /// At most 128 UTF-8 bytes, no control characters.
    /// </summary>
    public string? NodeName { get; set; }

    // ---- anti-entropy --------------------------------------------------------------------------------------------

    /// <summary>How often a node starts a scuttlebutt exchange (digest, then deltas both ways) with <see cref="Fanout"/>
    /// random linked peers. Default 200 ms (memberlist's LAN gossip interval).</summary>
    public TimeSpan GossipInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Linked peers a node exchanges with per round. Default 3. New writes are also pushed at once to every
    /// link and relayed hop by hop; the rounds repair whatever a push missed.</summary>
    public int Fanout { get; set; } = 3;

    /// <summary>Size budget of one gossip message (deltas in version order are cut to fit; the rest follows at once in
    /// a continuation exchange). A single entry larger than the budget still goes alone. Default 64 KiB.</summary>
    public int MaxMessageBytes { get; set; } = 64 << 10;

    // ---- node state ----------------------------------------------------------------------------------------------

    /// <summary>Longest key, UTF-8 bytes. Default 256.</summary>
    public int MaxKeyBytes { get; set; } = 256;

    /// <summary>Largest value (UTF-8 JSON) of a state key, a map entry or a said event. Default 64 KiB.</summary>
    public int MaxValueBytes { get; set; } = 64 << 10;

    /// <summary>Most keys a node owns, deletion markers included; when full, the oldest deletion markers are dropped
    /// first, then writes of new keys are refused with <c>limit_reached</c>. Also the most keys accepted per peer.
    /// Default 10,000.</summary>
    public int MaxKeysPerNode { get; set; } = 10_000;

    /// <summary>Longest TTL accepted. Default 30 days.</summary>
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a deleted or expired key is remembered, so that a peer that was behind still removes it.
    /// Must exceed <see cref="ForgetDeadAfter"/>: a peer cut off for longer has forgotten the owner and relearns its
    /// state from scratch. Default 1 h.</summary>
    public TimeSpan StateTombstoneRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most members (peers) a node keeps. Default 1024.</summary>
    public int MaxMembers { get; set; } = 1024;

    // ---- failure detection -----------------------------------------------------------------------------------------

    /// <summary>How often a node bumps its heartbeat and sends it straight to every linked peer; peers further away get
    /// it through gossip, with its age, so that every node judges the same heartbeat. Default 500 ms.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Phi-accrual suspicion level at which a peer is declared dead (about a 10^-phi chance of a wrong
    /// verdict under the observed heartbeat distribution). Default 8 (Cassandra, Akka).</summary>
    public double PhiThreshold { get; set; } = 8;

    /// <summary>Floor of the standard deviation of heartbeat intervals, so that very regular heartbeats do not make the
    /// detector hair-triggered. Default 100 ms.</summary>
    public TimeSpan MinStdDeviation { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Pause in heartbeats tolerated on top of the mean interval (GC, busy links). Default 1 s. With the other
    /// defaults a killed peer is declared dead about 2 to 2.5 s after its last heartbeat.</summary>
    public TimeSpan AcceptableHeartbeatPause { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Heartbeat intervals kept per peer for the detector. Default 200.</summary>
    public int MaxSampleSize { get; set; } = 200;

    /// <summary>If this node's own detector tick runs this much late (a GC or CPU pause here, not at the peers), the
    /// pause is not counted against any peer and no verdict is given in that tick. Default 500 ms.</summary>
    public TimeSpan MaxLocalPause { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Local health (Lifeguard's idea): when more than half of the live peers (and at least two) are overdue at once
    /// (phi of 1 or more), the likelier explanation is that this node is overloaded, not that they all died; a verdict
    /// then needs this many times the usual silence. A real partition from most of the cluster is still detected, this
    /// much later. Default 4.
    /// </summary>
    public double LocalHealthMultiplier { get; set; } = 4;

    /// <summary>Outbound bytes queued toward a peer above which new writes are not pushed to it at once; anti-entropy
    /// rounds carry them instead (coalesced, one budget per round), so a slow peer or an overloaded node never builds a
    /// backlog in front of heartbeats. Default 256 KiB.</summary>
    public int PushBacklogBytes { get; set; } = 256 << 10;

    /// <summary>Messages from links waiting to be handled, per module; beyond it messages are dropped and counted
    /// (anti-entropy repairs what they carried). Default 4096.</summary>
    public int MaxInboxMessages { get; set; } = 4096;

    /// <summary>A dead peer is forgotten (removed with its keys) this long after its last heartbeat. Default 10 min.</summary>
    public TimeSpan ForgetDeadAfter { get; set; } = TimeSpan.FromMinutes(10);

    // ---- event bus -----------------------------------------------------------------------------------------------

    /// <summary>How long a said event lasts when the sender gives no duration: nodes that join within it still hear
    /// it, once. Default 20 s (Telepathine's).</summary>
    public TimeSpan DefaultSayDuration { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Longest duration of a said event. Default 1 h.</summary>
    public TimeSpan MaxSayDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most said events held (lasting, or remembered to suppress duplicates). Beyond it a local
    /// <c>Say</c> is refused with <c>limit_reached</c> and events from peers are dropped (logged). Default 10,000.</summary>
    public int MaxActiveEvents { get; set; } = 10_000;

    // ---- shared maps ---------------------------------------------------------------------------------------------

    /// <summary>How often a node reconciles every shared map with <see cref="Fanout"/> random linked peers (writes are
    /// also pushed at once). Default 1 s.</summary>
    public TimeSpan MapSyncInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a deleted map key is remembered (measured from the deletion's clock), so that a node offline
    /// meanwhile still deletes it and never brings it back. Default 7 days.</summary>
    public TimeSpan MapTombstoneRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Most shared maps. Default 1024.</summary>
    public int MaxMaps { get; set; } = 1024;

    /// <summary>Most entries per map, deletion markers included (writes of new keys beyond it are refused). Default 100,000.</summary>
    public int MaxMapEntries { get; set; } = 100_000;

    // ---- profiles ------------------------------------------------------------------------------------------------

    /// <summary>The LAN profile: the defaults above. A killed peer is declared dead in about 2 to 3 s.</summary>
    public static GossipOptions Lan() => new();

    /// <summary>A fast profile for in-process tests: gossip every 50 ms, heartbeats every 100 ms, a killed peer declared
    /// dead in well under a second, dead peers forgotten after 5 s.</summary>
    public static GossipOptions ForTests() => new()
    {
        GossipInterval = TimeSpan.FromMilliseconds(50),
        HeartbeatInterval = TimeSpan.FromMilliseconds(100),
        MinStdDeviation = TimeSpan.FromMilliseconds(40),
        AcceptableHeartbeatPause = TimeSpan.FromMilliseconds(200),
        MaxLocalPause = TimeSpan.FromMilliseconds(150),
        ForgetDeadAfter = TimeSpan.FromSeconds(5),
        StateTombstoneRetention = TimeSpan.FromSeconds(30),
        MapSyncInterval = TimeSpan.FromMilliseconds(200),
        DefaultSayDuration = TimeSpan.FromSeconds(5),
    };

    /// <summary>A copy of these settings.</summary>
    public GossipOptions Clone() => (GossipOptions)MemberwiseClone();

    /// <summary>Every problem with these settings, each naming its setting; empty when they are valid.</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (NodeName is not null && !IsValidName(NodeName))
            errors.Add($"{Section}:NodeName '{NodeName}' must be 1 to 128 UTF-8 bytes without control characters.");
        Range(errors, GossipInterval, TimeSpan.FromMilliseconds(5), TimeSpan.FromMinutes(1), nameof(GossipInterval));
        Range(errors, HeartbeatInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1), nameof(HeartbeatInterval));
        Range(errors, MinStdDeviation, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1), nameof(MinStdDeviation));
        Range(errors, AcceptableHeartbeatPause, TimeSpan.Zero, TimeSpan.FromMinutes(10), nameof(AcceptableHeartbeatPause));
        Range(errors, MaxLocalPause, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1), nameof(MaxLocalPause));
        Range(errors, MapSyncInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10), nameof(MapSyncInterval));
        Range(errors, DefaultSayDuration, TimeSpan.FromMilliseconds(1), MaxSayDuration, nameof(DefaultSayDuration));
        Range(errors, MaxTtl, TimeSpan.FromSeconds(1), TimeSpan.FromDays(3650), nameof(MaxTtl));
        Range(errors, MapTombstoneRetention, TimeSpan.FromSeconds(1), TimeSpan.FromDays(3650), nameof(MapTombstoneRetention));
        if (ForgetDeadAfter <= HeartbeatInterval + AcceptableHeartbeatPause)
            errors.Add($"{Section}:ForgetDeadAfter ({ForgetDeadAfter}) must be longer than HeartbeatInterval + AcceptableHeartbeatPause.");
        if (StateTombstoneRetention < ForgetDeadAfter * 2)
            errors.Add($"{Section}:StateTombstoneRetention ({StateTombstoneRetention}) must be at least twice ForgetDeadAfter ({ForgetDeadAfter}), " +
                       "so that a peer that missed a deletion has forgotten the owner before the deletion is forgotten.");
        if (MaxInboxMessages is < 16 or > 1_000_000) errors.Add($"{Section}:MaxInboxMessages {MaxInboxMessages} must be between 16 and 1,000,000.");
        if (LocalHealthMultiplier is < 1 or > 100) errors.Add($"{Section}:LocalHealthMultiplier {LocalHealthMultiplier} must be between 1 and 100.");
        if (PushBacklogBytes < MaxMessageBytes) errors.Add($"{Section}:PushBacklogBytes {PushBacklogBytes} must be at least MaxMessageBytes ({MaxMessageBytes}).");
        if (PhiThreshold is < 1 or > 100) errors.Add($"{Section}:PhiThreshold {PhiThreshold} must be between 1 and 100.");
        if (Fanout is < 1 or > 64) errors.Add($"{Section}:Fanout {Fanout} must be between 1 and 64.");
        if (MaxSampleSize is < 10 or > 100_000) errors.Add($"{Section}:MaxSampleSize {MaxSampleSize} must be between 10 and 100,000.");
        if (MaxMessageBytes is < 1024 or > 4 << 20) errors.Add($"{Section}:MaxMessageBytes {MaxMessageBytes} must be between 1 KiB and 4 MiB.");
        if (MaxKeyBytes is < 1 or > 4096) errors.Add($"{Section}:MaxKeyBytes {MaxKeyBytes} must be between 1 and 4096.");
        if (MaxValueBytes is < 16 or > 4 << 20) errors.Add($"{Section}:MaxValueBytes {MaxValueBytes} must be between 16 bytes and 4 MiB.");
        if (MaxKeysPerNode is < 1 or > 10_000_000) errors.Add($"{Section}:MaxKeysPerNode {MaxKeysPerNode} must be between 1 and 10,000,000.");
        if (MaxMembers is < 2 or > 100_000) errors.Add($"{Section}:MaxMembers {MaxMembers} must be between 2 and 100,000.");
        if (MaxActiveEvents is < 1 or > 10_000_000) errors.Add($"{Section}:MaxActiveEvents {MaxActiveEvents} must be between 1 and 10,000,000.");
        if (MaxMaps is < 1 or > 1_000_000) errors.Add($"{Section}:MaxMaps {MaxMaps} must be between 1 and 1,000,000.");
        if (MaxMapEntries is < 1 or > 100_000_000) errors.Add($"{Section}:MaxMapEntries {MaxMapEntries} must be between 1 and 100,000,000.");
        return errors;
    }

    /// <summary>Node names, event names: 1 to 128 UTF-8 bytes, no control characters.</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 } && Encoding.UTF8.GetByteCount(name) <= 128 && !name.Any(char.IsControl);

    private static void Range(List<string> errors, TimeSpan value, TimeSpan min, TimeSpan max, string name)
    {
        if (value < min || value > max) errors.Add($"{Section}:{name} ({value}) must be between {min} and {max}.");
    }
}
