using System.Collections.Concurrent;

namespace Dt.Replication;

/// <summary>A node's tables by name. In memory; the durable log (<c>Storage.ChangeLog</c>) loads and follows it.</summary>
internal sealed class TableStore : ConcurrentDictionary<string, TableState>
{
    public TableStore() : base(StringComparer.Ordinal) { }
}
