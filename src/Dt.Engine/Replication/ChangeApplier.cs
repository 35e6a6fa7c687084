using System.Threading.Channels;
using Dt.Protocol;
using Dt.Transport;

namespace Dt.Replication;

/// <summary>
/// Applies the decoded changes of one link on their own task, in arrival order, so that decrypting and decoding (on
/// the link's read loop) and applying run on two cores during a bulk sync. A short bounded queue keeps backpressure:
/// when applying falls behind, the read loop waits, and so does TCP.
/// </summary>
internal sealed class ChangeApplier
{
    private readonly Channel<(string Table, List<(ChangeBatch Batch, List<Change> Included)> Groups)> _queue =
        Channel.CreateBounded<(string, List<(ChangeBatch, List<Change>)>)>(new BoundedChannelOptions(16) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    public ChangeApplier(PeerLink link, Replicator replicator)
    {
        _ = Task.Run(async () =>
        {
            await foreach (var (table, groups) in _queue.Reader.ReadAllAsync())
            {
                try
                {
                    replicator.OnChanges(link, table, groups);
                }
                catch (ProtocolException e)
                {
                    link.Close($"protocol error: {e.Message}");
                }
                catch (DtException e)
                {
                    replicator.Warnings.BadMessage(link, e.Message);
                }
                catch (Exception e)
                {
                    link.Close($"applying changes failed: {e.GetType().Name}: {e.Message}");
                }
            }
        });
    }

    public ValueTask EnqueueAsync(string table, List<(ChangeBatch Batch, List<Change> Included)> groups) => _queue.Writer.WriteAsync((table, groups));

    public void Complete() => _queue.Writer.TryComplete();
}
