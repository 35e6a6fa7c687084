using Dt.Protocol;
using Dt.Transport;
using Xunit;

namespace Dt.Tests.Engine;

/// <summary>A link's outbound queue: what the writer seals, in which frames, in which order.</summary>
public sealed class TransportQueueTests
{
    private static byte[] Message(int size, int n)
    {
        var m = new byte[size];
        m[0] = (byte)MessageType.Broadcast;
        BitConverter.TryWriteBytes(m.AsSpan(1), n);
        return m;
    }

    private static List<OutboundQueue.Segment> Take(OutboundQueue q)
    {
        var taken = new List<OutboundQueue.Segment>();
        q.TakeAll(ref taken);
        return taken;
    }

    /// <summary>Splits a sealed plaintext back into messages as the receiver does.</summary>
    private static List<byte[]> Split(ReadOnlySpan<byte> plaintext)
    {
        if (plaintext[0] != (byte)MessageType.Bundle) return [plaintext.ToArray()];
        var r = new WireReader(plaintext[1..]);
        var messages = new List<byte[]>();
        while (!r.End) messages.Add(r.Blob(plaintext.Length).ToArray());
        return messages;
    }

    [Fact]
    public void Small_messages_queued_together_are_one_bundle_in_order()
    {
        var q = new OutboundQueue();
        var sent = Enumerable.Range(0, 300).Select(i => Message(140, i)).ToList();
        foreach (var m in sent) Assert.True(q.TryAppend(m[0], m.AsSpan(1), out _));
        var taken = Take(q);
        var s = Assert.Single(taken);
        Assert.Equal(300 * 140, s.MessageBytes);
        Assert.Equal(sent, Split(s.Plaintext));
        OutboundQueue.Release(taken);
    }

    [Fact]
    public void A_lone_message_is_sealed_as_itself_not_as_a_bundle()
    {
        var q = new OutboundQueue();
        var m = Message(50, 7);
        Assert.True(q.TryAppend(m[0], m.AsSpan(1), out bool wasEmpty));
        Assert.True(wasEmpty);
        var taken = Take(q);
        Assert.Equal(m, Assert.Single(taken).Plaintext.ToArray());
        OutboundQueue.Release(taken);
    }

    [Fact]
    public void Large_messages_are_sealed_alone_and_bundles_stay_under_their_cap_keeping_the_order()
    {
        var q = new OutboundQueue();
        var sent = new List<byte[]>();
        for (int i = 0; i < 2000; i++)
        {
            var m = i % 500 == 250 ? Message(100_000, i) : Message(100 + i % 900, i);
            sent.Add(m);
            Assert.True(q.TryAppend(m[0], m.AsSpan(1), out bool wasEmpty));
            Assert.Equal(i == 0, wasEmpty);
        }
        var taken = Take(q);
        Assert.All(taken.Where(s => s.Bundle), s => Assert.True(s.Plaintext.Length <= OutboundQueue.SegmentBytes));
        Assert.Equal(4, taken.Count(s => !s.Bundle));
        Assert.Equal(sent, taken.SelectMany(s => Split(s.Plaintext)).ToList());
        Assert.Equal(sent.Sum(m => (long)m.Length), taken.Sum(s => s.MessageBytes));
        OutboundQueue.Release(taken);

        // Emptied: the next message finds the queue empty and would wake the writer.
        Assert.True(q.TryAppend(sent[0][0], sent[0].AsSpan(1), out bool empty));
        Assert.True(empty);
    }

    [Fact]
    public void A_completed_queue_refuses_messages()
    {
        var q = new OutboundQueue();
        var m = Message(10, 1);
        Assert.True(q.TryAppend(m[0], m.AsSpan(1), out _));
        q.Complete();
        Assert.False(q.TryAppend(m[0], m.AsSpan(1), out _));
        Assert.Empty(Take(q));
    }

    [Fact]
    public async Task The_write_loops_wake_signal_remembers_one_set_wakes_a_waiter_and_ends_it_when_completed()
    {
        var wake = new WakeSignal();
        wake.Set();
        wake.Set();
        var first = wake.WaitAsync();
        Assert.True(first.IsCompletedSuccessfully && first.Result); // set before the wait: at once
        var waiting = wake.WaitAsync();      // the two sets were one
        Assert.False(waiting.IsCompleted);
        var woken = Task.Run(() => wake.Set(), TestContext.Current.CancellationToken);
        Assert.True(await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        await woken;

        // Many waits and sets from other threads: every wait is woken, none twice (a second result would throw).
        for (int i = 0; i < 1_000; i++)
        {
            var next = wake.WaitAsync();
            _ = Task.Run(() => wake.Set(), TestContext.Current.CancellationToken);
            Assert.True(await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        }

        var last = wake.WaitAsync();
        wake.Complete();
        Assert.False(await last.AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        wake.Set();
        var after = wake.WaitAsync();
        Assert.True(after.IsCompletedSuccessfully);
        Assert.False(after.Result);
    }
}
