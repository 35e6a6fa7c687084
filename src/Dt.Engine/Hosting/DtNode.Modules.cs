using Dt.Gossip;
using Dt.Maps;
using Dt.Replication;
using Microsoft.Extensions.Logging;

namespace Dt.Hosting;

/// <summary>
/// The node's gossip modules: node state and membership (<see cref="GossipModule"/>), the say/hear event bus
/// (<see cref="EventBusModule"/>) and shared maps (<see cref="MapModule"/>). Their settings are the
/// <see cref="GossipOptions"/> attached to this node's <see cref="DtOptions"/> (LAN defaults if none); shared maps
/// live in the <see cref="MapStore"/> that goes with the node's <see cref="NodeStore"/>.
/// </summary>
public sealed partial class DtNode
{
    partial void CreateModules(List<INodeModule> modules, ILoggerFactory loggers)
    {
        var options = GossipOptions.For(Options);
        var gossip = new GossipModule(this, options, loggers.CreateLogger("Dt.Gossip"));
        modules.Add(gossip);
        modules.Add(new EventBusModule(this, options, gossip, loggers.CreateLogger("Dt.Gossip.Events")));
        modules.Add(new MapModule(this, options, MapStore.Of(Store), loggers.CreateLogger("Dt.Maps")));
    }
}
