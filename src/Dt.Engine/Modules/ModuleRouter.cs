using Dt.Events;
using Dt.Protocol;
using Dt.Transport;
using Microsoft.Extensions.Logging;

namespace Dt.Modules;

/// <summary>
/// Routes every message of a link to the module that claimed its type, and link changes to every module, in the
/// order the modules were given. One mechanism for every kind of message: a message type no module claims (a newer
/// peer's) is logged and dropped, the link stays; a refused message (<see cref="DtException"/>) is a rate-limited
/// warning and an error event.
/// </summary>
internal sealed class ModuleRouter
{
    private readonly IReadOnlyList<INodeModule> _modules;
    private readonly INodeModule?[] _byType = new INodeModule?[256];
    private readonly ModuleContext _context;
    private readonly ILogger _log;

    public ModuleRouter(IReadOnlyList<INodeModule> modules, ModuleContext context, ILogger log)
    {
        _modules = modules;
        _context = context;
        _log = log;
        foreach (var m in modules)
            foreach (var t in m.MessageTypes)
            {
                if (_byType[(byte)t] is { } other)
                    throw new InvalidOperationException($"message type {(byte)t} is claimed by both {other.GetType().Name} and {m.GetType().Name}");
                _byType[(byte)t] = m;
            }
    }

    public IReadOnlyList<INodeModule> Modules => _modules;

    public T Get<T>() where T : INodeModule => _modules.OfType<T>().Single();

    public void Start()
    {
        foreach (var m in _modules) m.Start();
    }

    public void OnLinkUp(PeerLink link)
    {
        foreach (var m in _modules) m.OnLinkUp(link);
    }

    public void OnLinkDown(PeerLink link)
    {
        foreach (var m in _modules) m.OnLinkDown(link);
    }

    public ValueTask RouteAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        var module = _byType[(byte)type];
        if (module is null)
        {
            DtLog.UnknownMessage(_log, (byte)type, link.ToString());
            return ValueTask.CompletedTask;
        }
        try
        {
            var pending = module.OnMessageAsync(link, type, body);
            return pending.IsCompletedSuccessfully ? ValueTask.CompletedTask : AwaitAsync(pending, link);
        }
        catch (DtException e)
        {
            Refused(link, e);
            return ValueTask.CompletedTask;
        }
    }

    private async ValueTask AwaitAsync(ValueTask pending, PeerLink link)
    {
        try { await pending; }
        catch (DtException e) { Refused(link, e); }
    }

    private void Refused(PeerLink link, DtException e)
    {
        _context.Warnings.BadMessage(link, e.Message);
        _context.Events.Publish(DtEventTypes.Error, origin: link.RemoteNodeId.ToString(), error: e.Message);
    }

    /// <summary>Disposes the modules in reverse order.</summary>
    public async ValueTask DisposeAsync()
    {
        for (int i = _modules.Count - 1; i >= 0; i--) await _modules[i].DisposeAsync();
    }
}
