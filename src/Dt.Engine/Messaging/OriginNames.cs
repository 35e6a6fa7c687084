using System.Collections.Concurrent;

namespace Dt.Messaging;

/// <summary>
/// The event's origin string per node id, made once instead of per message (a 36-character string each time).
/// Bounded: past <paramref name="max"/> origins the cache starts over.
/// </summary>
internal sealed class OriginNames(int max = 1024)
{
    private readonly ConcurrentDictionary<Guid, string> _names = new();

    public string Of(Guid node)
    {
        if (_names.TryGetValue(node, out var name)) return name;
        if (_names.Count >= max) _names.Clear();
        return _names.GetOrAdd(node, static id => id.ToString());
    }
}
