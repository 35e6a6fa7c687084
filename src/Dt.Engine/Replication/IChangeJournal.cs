namespace Dt.Replication;

/// <summary>
/// Where replication records the changes that won on this node, to make them durable (the disk store's change log).
/// Replication calls <see cref="Append"/> in apply order; masters acknowledge a write once <see cref="WaitDurableAsync"/> completes.
/// </summary>
internal interface IChangeJournal
{
    /// <summary>
    /// Queues the applied changes of one batch; returns a sequence number to wait on. When their JSON lies in a received
    /// frame's <paramref name="chunks"/>, the journal holds them until it no longer reads it.
    /// </summary>
    long Append(string table, ChangeBatch batch, IReadOnlyList<Change> applied, FrameChunks? chunks = null);

    /// <summary>The sequence number of the last append.</summary>
    long LastAppended { get; }

    /// <summary>Completes once everything appended up to <paramref name="sequence"/> is on disk.</summary>
    Task WaitDurableAsync(long sequence);
}
