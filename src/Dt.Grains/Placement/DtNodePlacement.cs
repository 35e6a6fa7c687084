using Dt.Grains.Hosting;
using Orleans;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Dt.Grains.Placement;

/// <summary>
/// Places a Dt grain on the silo of the node its key names (<see cref="DtGrainKeys"/>), so that it answers from
/// that node's replica. Keys that name no node go to the preferred node when it is up, else to a master's silo,
/// else to this silo. A key naming a node that is not running fails at once.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class DtNodePlacement : PlacementStrategy
{
    internal static readonly DtNodePlacement Instance = new();
}

/// <summary>Marks a grain class to be placed beside the Dt node its key names (<see cref="DtNodePlacement"/>).
/// Backend grains keyed like Dt's grains (e.g. "n2" or "n2/x") may use it too.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DtNodePlacementAttribute() : PlacementAttribute(DtNodePlacement.Instance);

internal sealed class DtNodePlacementDirector(DtClusterNodes nodes) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        string key = target.GrainIdentity.Key.ToString()!;
        var parsed = DtGrainKeys.Parse(key, hasName: key.Contains('/')); // refuses a bad node name with invalid_argument
        var compatible = context.GetCompatibleSilos(target);
        var byName = nodes.Active.Where(m => compatible.Contains(m.SiloAddress)).ToDictionary(m => m.Name, m => m.SiloAddress, StringComparer.Ordinal);

        string? named = parsed.Node;
        if (named is not null && byName.TryGetValue(named, out var silo)) return Task.FromResult(silo);
        if (!parsed.Unnamed)
            throw new DtException(DtErrorCodes.Unavailable,
                $"node '{named}' is not running in this Orleans cluster (Dt nodes up: {nodes.Names(compatible)})");

        var masters = compatible.Where(s => nodes.IsMaster(s) == true).ToList();
        if (masters.Contains(context.LocalSilo)) return Task.FromResult(context.LocalSilo);
        if (masters.Count > 0) return Task.FromResult(masters[Random.Shared.Next(masters.Count)]);
        if (compatible.Contains(context.LocalSilo)) return Task.FromResult(context.LocalSilo);
        if (compatible.Length == 0)
            throw new DtException(DtErrorCodes.Unavailable, "no Dt node is running in this Orleans cluster");
        return Task.FromResult(compatible[Random.Shared.Next(compatible.Length)]);
    }
}
