using Microsoft.Extensions.Logging;

namespace Dt.Gossip;

/// <summary>Every log line of the gossip modules (node state, membership, event bus, shared maps), source-generated,
/// with stable event ids in the 500 range.</summary>
internal static partial class GossipLog
{
    [LoggerMessage(500, LogLevel.Information, "Gossip member '{Name}' started (node {NodeId}, generation {Generation})")]
    public static partial void Started(ILogger log, string name, Guid nodeId, long generation);

    [LoggerMessage(501, LogLevel.Debug, "Peer '{Name}' joined (node {NodeId}, generation {Generation})")]
    public static partial void PeerNew(ILogger log, string name, Guid nodeId, long generation);

    [LoggerMessage(502, LogLevel.Debug, "Peer '{Name}' is up{Restarted}")]
    public static partial void PeerUp(ILogger log, string name, string restarted);

    [LoggerMessage(503, LogLevel.Warning, "Peer '{Name}' declared dead: phi {Phi:0.0} after {SilentMs} ms without a heartbeat (mean interval {MeanMs:0} ms, std dev {StdDevMs:0} ms)")]
    public static partial void PeerDown(ILogger log, string name, double phi, long silentMs, double meanMs, double stdDevMs);

    [LoggerMessage(504, LogLevel.Information, "Forgot dead peer '{Name}' and its {Keys} keys")]
    public static partial void PeerForgotten(ILogger log, string name, int keys);

    [LoggerMessage(505, LogLevel.Warning, "This node paused for {PauseMs} ms (GC or CPU starvation); the pause is not counted against any peer ({Total} pauses so far; logged at most every 10 s)")]
    public static partial void LocalPause(ILogger log, long pauseMs, long total);

    [LoggerMessage(506, LogLevel.Warning, "A previous life of this member '{Name}' has generation {Seen} (clock behind?); moving to generation {Generation}")]
    public static partial void GenerationBumped(ILogger log, string name, long seen, long generation);

    [LoggerMessage(507, LogLevel.Error, "Another live node uses the gossip name '{Name}' (generation {Seen}); gossip names must be unique")]
    public static partial void NameConflict(ILogger log, string name, long seen);

    [LoggerMessage(508, LogLevel.Warning, "Member limit of {Limit} reached; ignoring peer '{Name}'")]
    public static partial void MemberLimit(ILogger log, int limit, string name);

    [LoggerMessage(509, LogLevel.Warning, "Peer '{Name}' sent more keys than the limit of {Limit}; extra keys dropped")]
    public static partial void KeyLimit(ILogger log, string name, int limit);

    [LoggerMessage(510, LogLevel.Error, "Gossip tick failed")]
    public static partial void TickFailed(ILogger log, Exception e);

    [LoggerMessage(511, LogLevel.Debug, "Peer '{Name}' restarted (generation {Old} -> {New}); dropped {Keys} keys of its previous life")]
    public static partial void PeerRestarted(ILogger log, string name, long old, long @new, int keys);

    [LoggerMessage(512, LogLevel.Warning, "{Suspicious} of {Live} live peers look silent at once: this node is probably overloaded; verdicts need longer silence")]
    public static partial void LocalHealth(ILogger log, int suspicious, int live);

    [LoggerMessage(513, LogLevel.Error, "Handling a gossip message failed")]
    public static partial void HandlerFailed(ILogger log, Exception e);

    [LoggerMessage(520, LogLevel.Warning, "Dropped a said event from {Link}: {Limit} events are held already")]
    public static partial void SayDropped(ILogger log, string link, int limit);

    [LoggerMessage(530, LogLevel.Information, "Shared maps ready ({Maps} maps) after {Reason}")]
    public static partial void MapsReady(ILogger log, int maps, string reason);

    [LoggerMessage(531, LogLevel.Warning, "Map '{Map}' is full ({Limit} entries); dropped an entry from a peer")]
    public static partial void MapFull(ILogger log, string map, int limit);

    [LoggerMessage(532, LogLevel.Warning, "Map limit of {Limit} reached; ignoring map '{Map}' from a peer")]
    public static partial void MapLimit(ILogger log, int limit, string map);

    [LoggerMessage(533, LogLevel.Warning, "Map '{Map}': peer {Link} is behind deletions this node has forgotten; it resets its copy")]
    public static partial void MapPeerBehindFloor(ILogger log, string map, string link);

    [LoggerMessage(534, LogLevel.Warning, "Map '{Map}': this node was cut off longer than the tombstone retention; dropping its copy and taking the peer's")]
    public static partial void MapReset(ILogger log, string map);

    [LoggerMessage(535, LogLevel.Error, "Map sync tick failed")]
    public static partial void MapTickFailed(ILogger log, Exception e);
}
