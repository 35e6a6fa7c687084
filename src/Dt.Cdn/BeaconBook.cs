using Microsoft.Extensions.Logging;

namespace Dt.Cdn;

/// <summary>A serving node the redirector may send clients to, as its last beacon described it.</summary>
public sealed record LiveNode(string Node, string Url, string Location, double Load, DateTimeOffset LastBeacon, DateTimeOffset ExpiresAt);

/// <summary>
/// The redirector's view of the serving nodes: a node is live from its first beacon until it sends one saying it
/// is offline or misses <see cref="CdnOptions.MissedBeacons"/> of its own intervals. Choosing: nodes of the
/// client's location first (else all), among them those within a margin of the lowest load, in turn.
/// </summary>
public sealed class BeaconBook(string set, int missedBeacons, TimeProvider time, ILogger log)
{
    private readonly Dictionary<string, LiveNode> _nodes = new(StringComparer.Ordinal);
    private long _turn;

    public void Heard(Beacon b)
    {
        if (b.Set != set) return;
        var now = time.GetUtcNow();
        lock (_nodes)
        {
            if (!b.Online)
            {
                if (_nodes.Remove(b.Node, out var gone)) CdnLog.NodeDropped(log, b.Node, gone.Url, "it went offline");
                return;
            }
            if (!_nodes.ContainsKey(b.Node)) CdnLog.NodeUp(log, b.Node, b.Url, b.Location);
            _nodes[b.Node] = new LiveNode(b.Node, b.Url, b.Location, b.Load, now, now + b.Interval * missedBeacons);
        }
    }

    public IReadOnlyList<LiveNode> Live()
    {
        var now = time.GetUtcNow();
        lock (_nodes)
        {
            foreach (var n in _nodes.Values.Where(n => n.ExpiresAt <= now).ToList())
            {
                _nodes.Remove(n.Node);
                CdnLog.NodeDropped(log, n.Node, n.Url, $"no beacon since {n.LastBeacon:O}");
            }
            return _nodes.Values.OrderBy(n => n.Node, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>The node to send a client of <paramref name="location"/> to, or null if none is live.</summary>
    public LiveNode? Choose(string? location)
    {
        var live = Live();
        if (live.Count == 0) return null;
        var near = live.Where(n => location is { Length: > 0 } && n.Location == location).ToList();
        var pool = near.Count > 0 ? near : live;
        double least = pool.Min(n => n.Load);
        // A few requests per second either way is noise, not load: such nodes share the clients in turn.
        var light = pool.Where(n => n.Load <= least * 1.5 + 10).ToList();
        return light[(int)(Interlocked.Increment(ref _turn) % light.Count)];
    }
}
