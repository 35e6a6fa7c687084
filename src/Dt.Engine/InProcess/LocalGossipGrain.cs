using System.Runtime.CompilerServices;
using System.Text.Json;
using Dt.Gossip;
using Dt.Hosting;

namespace Dt.InProcess;

/// <summary>Gossip state, membership and the say/hear bus of the node. Keyed by node ("local" is this node).</summary>
public class LocalGossipGrain : IGossipGrain
{
    private readonly DtNode _node;
    private readonly GossipModule _gossip;
    private readonly EventBusModule _bus;

    public LocalGossipGrain(string key, DtNode node)
    {
        Key = key;
        _node = node;
        _gossip = node.Module<GossipModule>();
        _bus = node.Module<EventBusModule>();
    }

    public string Key { get; }

    public Task<GossipInfo> GetInfo() => Task.FromResult(_gossip.Info());

    public Task<long> Set(string key, JsonElement value, long? ttlMilliseconds = null)
    {
        if (ttlMilliseconds is <= 0) throw new DtException(DtErrorCodes.InvalidArgument, "TTL must be positive");
        return Task.FromResult(_gossip.Set(key, Bytes(value), ttlMilliseconds is { } t ? TimeSpan.FromMilliseconds(t) : null));
    }

    public Task<bool> Delete(string key) => Task.FromResult(_gossip.Delete(key));

    public Task<StateEntry?> Get(string key) => Task.FromResult(_gossip.Get(null, key));

    public Task<IReadOnlyList<StateEntry>> GetAll() => Task.FromResult(_gossip.Entries(null));

    public Task<StateEntry?> GetRemote(string peer, string key) => Task.FromResult(_gossip.Get(Peer(peer), key));

    public Task<IReadOnlyList<string>> GetRemoteKeys(string peer) => Task.FromResult(_gossip.Keys(Peer(peer)));

    public Task<IReadOnlyList<StateEntry>> GetRemoteEntries(string peer) => Task.FromResult(_gossip.Entries(Peer(peer)));

    public Task<IReadOnlyList<GossipPeer>> AllPeers() => Task.FromResult(_gossip.Peers());

    public Task<IReadOnlyList<GossipPeer>> LivePeers() => Task.FromResult(_gossip.Peers(alive: true));

    public Task<IReadOnlyList<GossipPeer>> DeadPeers() => Task.FromResult(_gossip.Peers(alive: false));

    public Task<string> Say(string eventName, JsonElement data, long? durationMilliseconds = null)
    {
        if (durationMilliseconds is <= 0) throw new DtException(DtErrorCodes.InvalidArgument, "duration must be positive");
        var id = _bus.Say(eventName, Bytes(data), durationMilliseconds is { } d ? TimeSpan.FromMilliseconds(d) : null);
        return Task.FromResult(id.ToString());
    }

    public async IAsyncEnumerable<SaidEvent> Hear(HearRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        CheckPattern(request.Pattern);
        // Subscribe before the lasting events are listed: nothing falls between.
        await using var live = _node.Events.Open(null, null);
        var seen = new HashSet<string>();
        if (request.IncludeActive)
            foreach (var e in Lasting(request))
                if (seen.Add(e.Id)) yield return e;
        await foreach (var ev in live.ReadAllAsync(cancellationToken))
        {
            if (ev.Type != GossipEventTypes.Say || ev.Value is not { } v) continue;
            var said = new SaidEvent(v.GetProperty("id").GetString()!, v.GetProperty("event").GetString()!, v.GetProperty("data").Clone(),
                v.GetProperty("origin").GetString()!, v.GetProperty("originNodeId").GetString()!, v.GetProperty("expiresAt").GetDateTimeOffset());
            if (!request.Hears(said, _gossip.Name)) continue;
            if (seen.Count > 0 && !seen.Add(said.Id)) continue;
            yield return said;
        }
    }

    public async Task<SaidEvent> HearOnce(HearRequest request, CancellationToken cancellationToken = default)
    {
        await foreach (var e in Hear(request, cancellationToken)) return e;
        cancellationToken.ThrowIfCancellationRequested();
        throw new DtException(DtErrorCodes.Unavailable, "the event stream ended before an event was heard");
    }

    public async IAsyncEnumerable<StateChange> Watch(StateWatch watch, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        CheckPattern(watch.KeyPattern);
        string? peer = watch.Peer is null ? null : Peer(watch.Peer);
        await using var live = _node.Events.Open(null, null);
        await foreach (var ev in live.ReadAllAsync(cancellationToken))
        {
            if (ev.Type is not (GossipEventTypes.StateSet or GossipEventTypes.StateDeleted or GossipEventTypes.KeyExpired) || ev.Value is not { } v) continue;
            string owner = v.GetProperty("peer").GetString()!, key = v.GetProperty("key").GetString()!;
            if (!watch.IncludeOwn && owner == _gossip.Name) continue;
            if (peer is not null && owner != peer) continue;
            if (!Glob.IsMatch(watch.KeyPattern, key)) continue;
            JsonElement? value = v.TryGetProperty("value", out var x) ? x.Clone() : null;
            yield return new StateChange(ev.Type, owner, key, value, v.GetProperty("version").GetInt64());
        }
    }

    public async IAsyncEnumerable<PeerChange> WatchPeers([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var live = _node.Events.Open(null, null);
        await foreach (var ev in live.ReadAllAsync(cancellationToken))
        {
            if (ev.Type is not (GossipEventTypes.PeerNew or GossipEventTypes.PeerUp or GossipEventTypes.PeerDown or GossipEventTypes.PeerForgotten)
                || ev.Value is not { } v) continue;
            yield return new PeerChange(ev.Type, v.GetProperty("peer").GetString()!, v.GetProperty("nodeId").GetString()!,
                v.GetProperty("generation").GetInt64(), v.TryGetProperty("restarted", out var r) && r.GetBoolean());
        }
    }

    public Task<IReadOnlyList<SaidEvent>> GetLasting(HearRequest request)
    {
        CheckPattern(request.Pattern);
        return Task.FromResult<IReadOnlyList<SaidEvent>>(Lasting(request));
    }

    private List<SaidEvent> Lasting(HearRequest request) => [.. _bus.Lasting(request.Pattern).Where(e => request.Hears(e, _gossip.Name))];

    /// <summary>A peer named by gossip name or node id; this node's own name is accepted too.</summary>
    private static string Peer(string peer)
    {
        if (string.IsNullOrEmpty(peer)) throw new DtException(DtErrorCodes.InvalidArgument, "peer must be a gossip name or a node id");
        return peer;
    }

    private static void CheckPattern(string pattern)
    {
        if (!Glob.IsValid(pattern)) throw new DtException(DtErrorCodes.InvalidArgument, $"pattern must be 1 to {Glob.MaxPatternLength} characters without control characters");
    }

    internal static byte[] Bytes(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Undefined) throw new DtException(DtErrorCodes.InvalidArgument, "value is missing");
        return JsonSerializer.SerializeToUtf8Bytes(value);
    }
}
