using Dt.Protocol;
using Dt.Transport;

namespace Dt.Hosting;

/// <summary>
/// A part of a node that speaks its own messages over the node's links (gossip state, shared maps, ...).
/// Message types 40 to 79 are reserved for modules; each module claims its own. Calls for one link never overlap.
/// </summary>
public interface INodeModule : IAsyncDisposable
{
    /// <summary>The message types this module handles.</summary>
    IReadOnlyCollection<MessageType> MessageTypes { get; }

    /// <summary>Called once the node is up (links may not be up yet).</summary>
    void Start();

    void OnLinkUp(PeerLink link);

    void OnLinkDown(PeerLink link);

    /// <summary>A message of one of <see cref="MessageTypes"/>; throw <see cref="ProtocolException"/> on malformed input.</summary>
    void OnMessage(PeerLink link, MessageType type, ReadOnlySpan<byte> body);
}
