namespace Dt;

/// <summary>
/// The Orleans streams every Dt silo publishes its node's events to (provider <see cref="ProviderName"/>, memory
/// streams by default), keyed by node name: a grain anywhere in the cluster subscribes with Orleans' own stream API,
/// e.g.
/// <c>this.GetStreamProvider(DtStreams.ProviderName).GetStream&lt;DtMessage&gt;(StreamId.Create(DtStreams.MessagesNamespace, node))</c>.
/// These streams carry what happens from the moment one subscribes; a subscriber that must resume after an event id,
/// or first see every existing object, uses the grains' <c>IAsyncEnumerable</c> subscriptions instead.
/// </summary>
public static class DtStreams
{
    public const string ProviderName = "Dt";

    /// <summary>Namespace of the streams of <see cref="DtMessage"/>: each broadcast message a node receives, once.</summary>
    public const string MessagesNamespace = "dt.messages";

    /// <summary>Namespace of the streams of <see cref="DtEvent"/>: every event of a node (objects, messages, errors, gossip).</summary>
    public const string EventsNamespace = "dt.events";
}
