namespace Dt.Client;

/// <summary>
/// <see cref="INodeGrain"/> over the silo's HTTP API. A silo serves one node, so every key reaches that node (as
/// the in-process factory does).
/// </summary>
public class RemoteNodeGrain : INodeGrain
{
    private readonly DtApiConnection _api;

    internal RemoteNodeGrain(string key, DtApiConnection api)
    {
        Key = key;
        _api = api;
    }

    public string Key { get; }

    public Task<NodeInfo> GetInfo() => _api.GetAsync(DtApiRoutes.Node, DtJsonContext.Default.NodeInfo);

    public async Task<IReadOnlyList<PeerInfo>> GetPeers() => (await GetInfo()).Peers;

    public Task<IReadOnlyList<TableSummary>> GetTables() => _api.GetAsync(DtApiRoutes.Tables, DtJsonContext.Default.IReadOnlyListTableSummary);

    public IAsyncEnumerable<DtEvent> SubscribeEvents(EventSubscription subscription, CancellationToken cancellationToken = default)
    {
        if (subscription.Table is not null) TableNames.Require(subscription.Table);
        return EventStream.Read(_api, subscription, types: null, cancellationToken);
    }
}
