using System.Threading.Channels;

namespace Dt.Transport.InMemory;

/// <summary>
/// One direction of an in-memory connection: written chunks in order, each delivered no earlier than the network's
/// delay after it was written (on the network's clock), at most <see cref="InMemoryNetwork.StreamCapacity"/> in flight.
/// </summary>
internal sealed class ByteStream(InMemoryNetwork network, TimeSpan delay)
{
    private readonly Channel<(byte[] Bytes, long DueTicks)> _chunks = Channel.CreateBounded<(byte[], long)>(
        new BoundedChannelOptions(InMemoryNetwork.StreamCapacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
    private byte[] _current = [];
    private int _offset;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        if (bytes.IsEmpty) return;
        long due = delay > TimeSpan.Zero ? network.Time.GetUtcNow().UtcTicks + delay.Ticks : 0;
        try { await _chunks.Writer.WriteAsync((bytes.ToArray(), due), ct); }
        catch (ChannelClosedException) { throw new IOException("the connection was closed"); }
    }

    /// <summary>Reads some bytes; 0 once the stream has ended and everything before was read.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct)
    {
        if (buffer.IsEmpty) return 0;
        while (_offset >= _current.Length)
        {
            if (!await _chunks.Reader.WaitToReadAsync(ct)) return 0;
            if (!_chunks.Reader.TryRead(out var chunk)) continue;
            if (chunk.DueTicks > 0)
            {
                var wait = TimeSpan.FromTicks(chunk.DueTicks - network.Time.GetUtcNow().UtcTicks);
                if (wait > TimeSpan.Zero) await Task.Delay(wait, network.Time, ct);
            }
            _current = chunk.Bytes;
            _offset = 0;
        }
        int n = Math.Min(buffer.Length, _current.Length - _offset);
        _current.AsSpan(_offset, n).CopyTo(buffer.Span);
        _offset += n;
        return n;
    }

    public void Complete() => _chunks.Writer.TryComplete();
}

/// <summary>A <see cref="Stream"/> over two <see cref="ByteStream"/>s: reads one, writes the other.</summary>
internal sealed class DuplexStream(ByteStream input, ByteStream output) : Stream
{
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => input.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        input.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => output.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        output.WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush() { }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            input.Complete();
            output.Complete();
        }
        base.Dispose(disposing);
    }
}
