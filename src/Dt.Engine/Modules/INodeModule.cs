using Dt.Protocol;
using Dt.Transport;

namespace Dt.Modules;

/// <summary>
/// A part of a node that speaks its own messages over the node's links: replication, broadcast messages, gossip
/// state, the event bus, shared maps, and what comes next. Each module claims its message types (the
/// <see cref="ModuleRouter"/> refuses two claims of one type) and gets a <see cref="ModuleContext"/>, never the node.
/// Calls for one link never overlap.
/// </summary>
internal interface INodeModule : IAsyncDisposable
{
    /// <summary>The message types this module handles.</summary>
    IReadOnlyCollection<MessageType> MessageTypes { get; }

    /// <summary>Called once the node is up (links may not be up yet).</summary>
    void Start();

    /// <summary>A full link is up; called before its first message is read.</summary>
    void OnLinkUp(PeerLink link);

    /// <summary>The link is closed and no message of it follows.</summary>
    void OnLinkDown(PeerLink link);

    /// <summary>
    /// A message of one of <see cref="MessageTypes"/>; <paramref name="body"/> (after the type byte) is valid only
    /// until the returned task completes, and the link reads nothing more until then (backpressure). Throw
    /// <see cref="ProtocolException"/> on malformed input (the link is closed), <see cref="DtException"/> for a
    /// well-formed message that is refused (logged, rate-limited, the link stays).
    /// </summary>
    ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body);
}
