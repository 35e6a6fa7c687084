using System.Collections.Concurrent;

namespace Dt.Replication;

/// <summary>
/// What a node holds: its tables. In memory; a node restarted with the same store (tests, or a host that keeps it)
/// comes back with what it had.
/// </summary>
public sealed class NodeStore
{
    public ConcurrentDictionary<string, TableState> Tables { get; } = new();
}
