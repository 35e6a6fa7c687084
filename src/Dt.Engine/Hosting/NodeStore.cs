using Dt.Maps;
using Dt.Replication;

namespace Dt.Hosting;

/// <summary>
/// What a node holds: its tables and its shared maps. In memory; a node restarted with the same store (tests, or a
/// host that keeps it) comes back with what it had. With disk storage the tables come from the change log.
/// </summary>
public sealed class NodeStore
{
    public NodeStore() : this(new TableStore()) { }

    internal NodeStore(TableStore tables) => Tables = tables;

    internal TableStore Tables { get; }

    internal MapStore Maps { get; } = new();
}
