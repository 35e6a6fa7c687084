using System.Globalization;
using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>
/// The query of GET /v1/events: table, after (or the Last-Event-ID header a reconnecting browser sends; absent:
/// from now on; 0: every event the node still holds),
/// existing, types (a comma-separated filter on event types), node (the node id of the stream being resumed).
/// </summary>
internal sealed record EventQuery(string? Table, long? After, bool Existing, IReadOnlySet<string>? Types, string? Node)
{
    public static EventQuery Parse(HttpRequest request)
    {
        var q = request.Query;
        string? table = q["table"] is { Count: > 0 } t && !string.IsNullOrEmpty(t[0]) ? t[0] : null;
        if (table is not null) TableNames.Require(table);

        string? afterText = q["after"] is { Count: > 0 } a && !string.IsNullOrEmpty(a[0]) ? a[0] : request.Headers["Last-Event-ID"].FirstOrDefault();
        long? after = null;
        if (!string.IsNullOrEmpty(afterText))
        {
            if (!long.TryParse(afterText, NumberStyles.None, CultureInfo.InvariantCulture, out long id))
                throw new DtException(DtErrorCodes.InvalidArgument, $"after '{afterText}' is not an event id (a whole number, 0 or more)");
            after = id;
        }

        bool existing = false;
        if (q["existing"] is { Count: > 0 } e && !string.IsNullOrEmpty(e[0]) && !bool.TryParse(e[0], out existing))
            throw new DtException(DtErrorCodes.InvalidArgument, $"existing '{e[0]}' must be true or false");

        HashSet<string>? types = null;
        if (q["types"] is { Count: > 0 } ty && !string.IsNullOrEmpty(ty[0]))
            types = new HashSet<string>(ty.ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal);

        string? node = q["node"] is { Count: > 0 } n && !string.IsNullOrEmpty(n[0]) ? n[0] : null;
        return new EventQuery(table, after, existing, types, node);
    }

    /// <summary>
    /// Why the position asked for cannot be resumed on this node, or null when it can. Event ids start again at 1
    /// when a node restarts; a position from an earlier run (another node id, or an id this run has not reached)
    /// would silently skip events, so the stream starts over with a snapshot instead.
    /// </summary>
    public string? ResetReason(Guid nodeId, long lastId)
    {
        if (After is null) return null;
        if (Node is not null && !string.Equals(Node, nodeId.ToString(), StringComparison.OrdinalIgnoreCase))
            return $"event id {After} was issued by node {Node}, not by this node ({nodeId}): it restarted or is another node; sending its current objects instead";
        if (After > lastId)
            return $"event id {After} is beyond this node's last event ({lastId}): it restarted since; sending its current objects instead";
        return null;
    }
}
