using System.Collections.Concurrent;
using Orleans;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Dt.Grains.Hosting;

/// <summary>
/// The Dt nodes of this Orleans cluster as the membership sees them: active silos by name, and which of them run a
/// master node (each silo states it in its silo metadata, <see cref="MasterMetadataKey"/>).
/// </summary>
public sealed class DtClusterNodes(IClusterMembershipService membership, ISiloMetadataCache metadata, IGrainFactory grains)
{
    public const string MasterMetadataKey = "dt-master";

    private readonly ConcurrentDictionary<SiloAddress, bool> _askedMaster = new();

    public IEnumerable<ClusterMember> Active =>
        membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active);

    /// <summary>Whether the silo runs a master: from its metadata, else from what its node said when asked; null if unknown.</summary>
    public bool? IsMaster(SiloAddress silo)
    {
        if (metadata.GetSiloMetadata(silo).Metadata.TryGetValue(MasterMetadataKey, out var v)) return v == "true";
        return _askedMaster.TryGetValue(silo, out bool asked) ? asked : null;
    }

    /// <summary>Names of the active silos, for error messages.</summary>
    public string Names(IEnumerable<SiloAddress>? among = null)
    {
        var set = among?.ToHashSet();
        var names = Active.Where(m => set is null || set.Contains(m.SiloAddress)).Select(m => m.Name).Order(StringComparer.Ordinal).ToList();
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    /// <summary>The name of an active silo that runs a master node, or null. Silos whose metadata has not arrived yet
    /// are asked through their node grain.</summary>
    public async Task<string?> FindMasterAsync()
    {
        var active = Active.ToList();
        var known = active.FirstOrDefault(m => IsMaster(m.SiloAddress) == true);
        if (known is not null) return known.Name;
        foreach (var m in active.Where(m => IsMaster(m.SiloAddress) is null))
        {
            try
            {
                var info = await grains.GetGrain<INodeGrain>(DtGrainKeys.Node(m.Name)).GetInfo().WaitAsync(TimeSpan.FromSeconds(5));
                _askedMaster[m.SiloAddress] = info.IsMaster;
                if (info.IsMaster) return m.Name;
            }
            catch (Exception e) when (e is DtException or TimeoutException or SiloUnavailableException or OrleansException)
            {
                // Not a Dt silo, or going away: not a master to write to.
            }
        }
        return null;
    }
}
