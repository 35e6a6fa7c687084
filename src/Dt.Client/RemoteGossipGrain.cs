using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Dt.Client;

/// <summary>
/// <see cref="IGossipGrain"/> over the silo's HTTP API: /v1/state (node state and peers), /v1/say and /v1/hear (the
/// event bus), and /v1/events for state and membership changes. Streams resume after a dropped connection like
/// every event stream of the client.
/// </summary>
public class RemoteGossipGrain : IGossipGrain
{
    private static readonly string[] StateTypes = [GossipEventTypes.StateSet, GossipEventTypes.StateDeleted, GossipEventTypes.KeyExpired];
    private static readonly string[] PeerTypes = [GossipEventTypes.PeerNew, GossipEventTypes.PeerUp, GossipEventTypes.PeerDown, GossipEventTypes.PeerForgotten];

    private readonly DtApiConnection _api;

    internal RemoteGossipGrain(string key, DtApiConnection api)
    {
        Key = key;
        _api = api;
    }

    public string Key { get; }

    public async Task<GossipInfo> GetInfo() => (await _api.GetAsync(DtApiRoutes.State, DtJsonContext.Default.GossipState)).Info;

    public async Task<long> Set(string key, JsonElement value, long? ttlMilliseconds = null)
    {
        string path = DtApiRoutes.StateKey(RequireKey(key)) + (ttlMilliseconds is { } ttl ? "?ttl=" + ttl.ToString(CultureInfo.InvariantCulture) : "");
        var result = await _api.SendAsync(HttpMethod.Put, path, JsonContent(value), DtJsonContext.Default.StateSetResult);
        return result!.Version;
    }

    public Task<bool> Delete(string key) => _api.SendNoContentAsync(HttpMethod.Delete, DtApiRoutes.StateKey(RequireKey(key)));

    public Task<StateEntry?> Get(string key) => _api.GetOrNullAsync(DtApiRoutes.StateKey(RequireKey(key)), DtJsonContext.Default.StateEntry);

    public async Task<IReadOnlyList<StateEntry>> GetAll() => (await _api.GetAsync(DtApiRoutes.State, DtJsonContext.Default.GossipState)).Keys;

    public Task<StateEntry?> GetRemote(string peer, string key) =>
        _api.GetOrNullAsync(DtApiRoutes.StatePeerKey(RequirePeer(peer), RequireKey(key)), DtJsonContext.Default.StateEntry);

    public Task<IReadOnlyList<string>> GetRemoteKeys(string peer) =>
        _api.GetAsync(DtApiRoutes.StatePeerKeys(RequirePeer(peer)), DtJsonContext.Default.IReadOnlyListString);

    public Task<IReadOnlyList<StateEntry>> GetRemoteEntries(string peer) =>
        _api.GetAsync(DtApiRoutes.StatePeer(RequirePeer(peer)), DtJsonContext.Default.IReadOnlyListStateEntry);

    public Task<IReadOnlyList<GossipPeer>> AllPeers() => Peers("all");

    public Task<IReadOnlyList<GossipPeer>> LivePeers() => Peers("live");

    public Task<IReadOnlyList<GossipPeer>> DeadPeers() => Peers("dead");

    private Task<IReadOnlyList<GossipPeer>> Peers(string filter) =>
        _api.GetAsync(DtApiRoutes.StatePeers + "?filter=" + filter, DtJsonContext.Default.IReadOnlyListGossipPeer);

    public async Task<string> Say(string eventName, JsonElement data, long? durationMilliseconds = null)
    {
        if (string.IsNullOrEmpty(eventName)) throw new DtException(DtErrorCodes.InvalidArgument, "the event name must not be empty");
        string path = DtApiRoutes.Say(eventName) + (durationMilliseconds is { } d ? "?duration=" + d.ToString(CultureInfo.InvariantCulture) : "");
        var result = await _api.PostAsync(path, RemoteTableGrain.Serialize(data), DtJsonContext.Default.SayResult);
        return result.Id;
    }

    public async IAsyncEnumerable<SaidEvent> Hear(HearRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        string query = $"pattern={Uri.EscapeDataString(request.Pattern)}&includeOwn={(request.IncludeOwn ? "true" : "false")}";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var subscription = new EventSubscription(IncludeExisting: request.IncludeActive);
        await foreach (var e in EventStream.Read(_api, subscription, null, DtApiRoutes.Hear, query, cancellationToken))
        {
            if (e.Type != GossipEventTypes.Say || ToSaid(e) is not { } said) continue;
            // A lasting event may come in the snapshot and again live; each is heard once.
            if (!seen.Add(said.Id)) continue;
            if (seen.Count > 100_000) seen.Clear();
            yield return said;
        }
    }

    public async Task<IReadOnlyList<SaidEvent>> GetLasting(HearRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string query = $"?pattern={Uri.EscapeDataString(request.Pattern)}&includeOwn={(request.IncludeOwn ? "true" : "false")}";
        return await _api.GetAsync(DtApiRoutes.HearLasting + query, DtJsonContext.Default.SaidEventArray) ?? [];
    }

    public async Task<SaidEvent> HearOnce(HearRequest request, CancellationToken cancellationToken = default)
    {
        await foreach (var e in Hear(request, cancellationToken)) return e;
        cancellationToken.ThrowIfCancellationRequested();
        throw new DtException(DtErrorCodes.Unavailable, "the event stream ended before an event was heard");
    }

    public async IAsyncEnumerable<StateChange> Watch(StateWatch watch, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(watch);
        string own = (await GetInfo()).Name;
        await foreach (var e in EventStream.Read(_api, new EventSubscription(), StateTypes, cancellationToken))
        {
            if (e.Value is not { ValueKind: JsonValueKind.Object } v || !StateTypes.Contains(e.Type)) continue;
            string owner = Str(v, "peer") ?? "", key = Str(v, "key") ?? "";
            if (!watch.IncludeOwn && owner == own) continue;
            if (watch.Peer is not null && owner != watch.Peer) continue;
            if (!Wildcard.IsMatch(watch.KeyPattern, key)) continue;
            JsonElement? value = v.TryGetProperty("value", out var x) ? x.Clone() : null;
            long version = v.TryGetProperty("version", out var ver) && ver.TryGetInt64(out long n) ? n : 0;
            yield return new StateChange(e.Type, owner, key, value, version);
        }
    }

    public async IAsyncEnumerable<PeerChange> WatchPeers([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var e in EventStream.Read(_api, new EventSubscription(), PeerTypes, cancellationToken))
        {
            if (e.Value is not { ValueKind: JsonValueKind.Object } v || !PeerTypes.Contains(e.Type)) continue;
            long generation = v.TryGetProperty("generation", out var g) && g.TryGetInt64(out long n) ? n : 0;
            bool restarted = v.TryGetProperty("restarted", out var r) && r.ValueKind == JsonValueKind.True;
            yield return new PeerChange(e.Type, Str(v, "peer") ?? "", Str(v, "nodeId") ?? "", generation, restarted);
        }
    }

    /// <summary>The said event a <c>say</c> event of the node's stream carries, or null if it carries none.</summary>
    internal static SaidEvent? ToSaid(DtEvent e)
    {
        if (e.Value is not { ValueKind: JsonValueKind.Object } v) return null;
        try
        {
            return v.Deserialize(DtJsonContext.Default.SaidEvent);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    internal static ByteArrayContent JsonContent(JsonElement value)
    {
        var content = new ByteArrayContent(RemoteTableGrain.Serialize(value));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static string? Str(JsonElement v, string name) => v.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

    private static string RequireKey(string key) =>
        string.IsNullOrEmpty(key) ? throw new DtException(DtErrorCodes.InvalidArgument, "the key must not be empty") : key;

    private static string RequirePeer(string peer) =>
        string.IsNullOrEmpty(peer) ? throw new DtException(DtErrorCodes.InvalidArgument, "peer must be a gossip name or a node id") : peer;
}

/// <summary>The gossip patterns on the client side: '*' any run of characters, '?' one character.</summary>
internal static class Wildcard
{
    public static bool IsMatch(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t])) { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
