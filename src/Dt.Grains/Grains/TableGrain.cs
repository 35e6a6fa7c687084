using System.Text.Json;
using Dt.Grains.Hosting;
using Dt.Grains.Placement;
using Dt.InProcess;
using Orleans;
using Orleans.Concurrency;

namespace Dt.Grains;

/// <summary>
/// A table of a node, keyed "node/table" (<see cref="DtGrainKeys.Table"/>). Reads answer from the node's replica.
/// Writes: on a master node, there; addressed to a named non-master, <c>not_master</c>; addressed without a node, on a
/// master of the cluster (forwarded when this silo's node is not one), or <c>not_master</c> when none is up.
/// </summary>
[DtNodePlacement, Reentrant]
public sealed class TableGrain(DtSiloNode silo, DtClusterNodes cluster) : DtGrain(silo, hasName: true), ITableGrain
{
    private LocalTableGrain? _local;

    private LocalTableGrain Local => _local ??= new LocalTableGrain(Key.Name, Node);

    public async Task<string> AddObject(JsonElement value) => (await AddObjects([value]))[0];

    public async Task<IReadOnlyList<string>> AddObjects(IReadOnlyList<JsonElement> values) =>
        await (await WriterAsync()).AddObjects(values);

    public async Task<IReadOnlyList<string>> AddObjectsUtf8(IReadOnlyList<byte[]> values) =>
        await (await WriterAsync()).AddObjectsUtf8(values);

    public async Task<bool> RemoveObject(string hash) => await (await WriterAsync()).RemoveObject(hash);

    public async Task<bool> RemoveObjectByValue(JsonElement value) => await (await WriterAsync()).RemoveObjectByValue(value);

    public Task<ObjectRecord?> GetObject(string hash) => Local.GetObject(hash);

    public IAsyncEnumerable<ObjectRecord> ListObjects(CancellationToken cancellationToken = default) => Local.ListObjects(cancellationToken);

    public Task<TableSummary> GetSummary() => Local.GetSummary();

    public IAsyncEnumerable<DtEvent> Subscribe(EventSubscription subscription, CancellationToken cancellationToken = default) =>
        Local.Subscribe(subscription, cancellationToken);

    /// <summary>Who carries out a write: this node when it is a master or was named; else a master's table grain.</summary>
    private async ValueTask<ITableGrain> WriterAsync()
    {
        var local = Local; // checks the key and the node first
        if (Node.Options.Master || !Key.Unnamed) return local;
        // Addressed without a node, but placed on a non-master (none was known at placement): find one now, and let
        // this activation go so the next call is placed on a master.
        if (Key.Node is null) DeactivateOnIdle();
        string? master = await cluster.FindMasterAsync();
        if (master is null)
            throw new DtException(DtErrorCodes.NotMaster,
                $"no master node is up in this Orleans cluster to change table '{Key.Name}': start a silo with Dt:Master=true " +
                "(and its public key in Dt:TrustedMasterKeys of the other nodes)");
        return GrainFactory.GetGrain<ITableGrain>(DtGrainKeys.Table(master, Key.Name));
    }
}
