using Dt.Grains.Hosting;
using Dt.Hosting;
using Orleans;

namespace Dt.Grains;

/// <summary>
/// What every Dt grain shares: its parsed key, checked in the first call (not in the constructor, where Orleans would
/// wrap the error), and the silo's node it answers from. The engine is thread-safe, so the grains are reentrant: a
/// slow call (a durable write, a long subscription) never holds up the others.
/// </summary>
public abstract class DtGrain(DtSiloNode silo, bool hasName) : Grain
{
    private DtGrainKey? _key;

    protected DtSiloNode Silo { get; } = silo;

    protected DtGrainKey Key => _key ??= DtGrainKeys.Parse(this.GetPrimaryKeyString(), hasName);

    /// <summary>The node this grain answers from: the silo's own, which must be the node its key names.</summary>
    protected DtNode Node
    {
        get
        {
            var key = Key;
            var node = Silo.Node;
            if (key is { Unnamed: false, Node: { } named } && named != Silo.Name)
                throw new DtException(DtErrorCodes.Unavailable, $"node '{named}' is not the node of this silo ('{Silo.Name}'); it is not running here");
            return node;
        }
    }
}
