using Dt.Files;

namespace Dt.Cdn;

/// <summary>Decoded chunks for serving, least recently used dropped first once over the byte budget; concurrent
/// requests for one chunk share one fetch.</summary>
internal sealed class ChunkCache(ChunkFetcher fetcher, long capacityBytes)
{
    private readonly Dictionary<string, LinkedListNode<(string Key, Task<byte[]> Bytes, int Size)>> _map = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, Task<byte[]> Bytes, int Size)> _order = new();
    private long _bytes;

    public Task<byte[]> GetAsync(ChunkRef chunk, CancellationToken ct)
    {
        if (capacityBytes == 0) return fetcher.FetchAsync(chunk, ct);
        lock (_map)
        {
            if (_map.TryGetValue(chunk.ObjectHash, out var hit))
            {
                _order.Remove(hit);
                _order.AddFirst(hit);
                return hit.Value.Bytes;
            }
            // Fetched without the request's token: other requests may wait on it too.
            var task = fetcher.FetchAsync(chunk, CancellationToken.None);
            var node = _order.AddFirst((chunk.ObjectHash, task, chunk.Size));
            _map[chunk.ObjectHash] = node;
            _bytes += chunk.Size;
            task.ContinueWith(t => Forget(chunk.ObjectHash, node), CancellationToken.None, TaskContinuationOptions.NotOnRanToCompletion, TaskScheduler.Default);
            while (_bytes > capacityBytes && _order.Last is { } last && last != node) Remove(last);
            return task.WaitAsync(ct);
        }
    }

    private void Forget(string key, LinkedListNode<(string, Task<byte[]>, int)> node)
    {
        lock (_map) if (_map.TryGetValue(key, out var held) && held == node) Remove(node);
    }

    private void Remove(LinkedListNode<(string Key, Task<byte[]> Bytes, int Size)> node)
    {
        _order.Remove(node);
        _map.Remove(node.Value.Key);
        _bytes -= node.Value.Size;
    }
}
