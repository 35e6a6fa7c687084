using Dt.Protocol;
using Dt.Transport;

namespace Dt.Gossip;

/// <summary>Writes the batch of one plan in at most <paramref name="budget"/> bytes (at least one entry when
/// <paramref name="force"/>); returns true if its entries were cut to fit, with <paramref name="to"/> the last version written.</summary>
internal delegate bool BatchWriter<TPlan>(WireWriter w, TPlan plan, int budget, bool force, long now, out long to);

/// <summary>What <see cref="DeltaPacker{TPlan}"/> and its modules share whatever a plan is.</summary>
internal static class DeltaPacker
{
    /// <summary>
    /// Adds <paramref name="items"/> in order to <paramref name="into"/> while they fit in <paramref name="budget"/>
    /// bytes, counting from <paramref name="used"/> (at least one when <paramref name="force"/>); returns true if any
    /// were left out (the batch was cut).
    /// </summary>
    public static bool Fill<T>(List<T> into, IEnumerable<T> items, Func<T, int> size, int used, int budget, bool force)
    {
        foreach (var item in items)
        {
            int s = size(item);
            if (used + s > budget && (into.Count > 0 || !force)) return true;
            into.Add(item);
            used += s;
        }
        return false;
    }

    /// <summary>Runs <paramref name="send"/> on up to <paramref name="fanout"/> of <paramref name="links"/>, picked at random.</summary>
    public static void ToRandom(IReadOnlyList<PeerLink> links, int fanout, Action<PeerLink> send)
    {
        if (links.Count == 0) return;
        int n = Math.Min(fanout, links.Count);
        var picked = links.ToArray();
        for (int i = 0; i < n; i++)
        {
            int j = Random.Shared.Next(i, picked.Length);
            (picked[i], picked[j]) = (picked[j], picked[i]);
            send(picked[i]);
        }
    }
}

/// <summary>
/// Fills messages with the batches of plans (what a module sends of one owner, or of one writer of a map), cut to the
/// message budget, for the modules that sync by Scuttlebutt: gossip state and maps. The module knows its batches (how
/// to write one, how much room one needs, what is left of a cut one); this type knows the budget, the flow control
/// toward a backlogged link, and how a push is split over as many messages as it takes.
/// </summary>
internal sealed class DeltaPacker<TPlan>(
    GossipOptions options,
    MessageType pushType,
    Func<TPlan, int> overhead,
    BatchWriter<TPlan> write,
    Func<TPlan, long, TPlan> rest,
    Func<TPlan, TPlan> fromFloor)
{
    /// <summary>Pushes not sent to a link because it was backlogged.</summary>
    public long PushesSkipped { get; private set; }

    /// <summary>A link with more queued than <see cref="GossipOptions.PushBacklogBytes"/>: it gets no pushes and no
    /// immediate continuation; the next round carries what it misses.</summary>
    public bool IsBacklogged(PeerLink link) => link.QueuedBytes > options.PushBacklogBytes;

    /// <summary>The delta budget toward a link: the full budget, or a small one while the link is backlogged (heartbeats
    /// and small deltas still go; the rest waits for the backlog to drain).</summary>
    public int Budget(PeerLink link) => IsBacklogged(link) ? Math.Min(options.MaxMessageBytes, 8 << 10) : options.MaxMessageBytes;

    /// <summary>
    /// Writes as many plans as fit in <paramref name="budget"/> bytes (at least one entry, whatever its size); returns
    /// how many batches were written and whether anything was left out.
    /// </summary>
    public (int Count, bool More) WriteBatches(WireWriter w, List<TPlan> plans, int budget, long now)
    {
        int count = 0;
        foreach (var p in plans)
        {
            int left = budget - w.Length;
            if (left < overhead(p) && count > 0) return (count, true);
            bool cut = write(w, p, left, count == 0, now, out _);
            count++;
            if (cut) return (count, true);
        }
        return (count, false);
    }

    /// <summary>
    /// Sends plans as push messages (as many as needed) to every given link that is not backlogged. A push never starts
    /// below the floor (<paramref name="fromFloor"/>): a receiver behind forgotten deletion markers must not apply it; it
    /// sees a gap instead and is reset by the next exchange.
    /// </summary>
    public void Push(IReadOnlyList<PeerLink> links, List<TPlan> plans, long now)
    {
        var queue = new Queue<TPlan>(plans.Select(fromFloor));
        using var body = new WireWriter(1024);
        using var w = new WireWriter(1024);
        while (queue.Count > 0)
        {
            body.Reset();
            int count = 0;
            while (queue.Count > 0)
            {
                var p = queue.Peek();
                int left = options.MaxMessageBytes - body.Length;
                if (left < overhead(p) && count > 0) break;
                bool cut = write(body, p, left, count == 0, now, out long to);
                count++;
                queue.Dequeue();
                if (cut)
                {
                    // The rest of this plan goes first in the next message.
                    var next = new Queue<TPlan>();
                    next.Enqueue(rest(p, to));
                    foreach (var q in queue) next.Enqueue(q);
                    queue = next;
                    break;
                }
            }
            w.Reset();
            GossipCodec.WriteDeltasStart(w, pushType, false);
            GossipCodec.WriteBatchCount(w, count);
            w.Bytes(body.WrittenSpan);
            foreach (var l in links)
                if (!IsBacklogged(l)) l.TrySend(w.WrittenSpan);
                else PushesSkipped++;
        }
    }
}
