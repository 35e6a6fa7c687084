namespace Dt.Client;

/// <summary>
/// A read-only wrapper that cancels <paramref name="idle"/> when nothing arrives for <paramref name="timeout"/>:
/// a connection that went silent (a cut network does not always close sockets) is then treated as dropped.
/// </summary>
internal sealed class IdleTimeoutStream(Stream inner, CancellationTokenSource idle, TimeSpan timeout) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        idle.CancelAfter(timeout);
        int n = await inner.ReadAsync(buffer, cancellationToken);
        // The clock runs only while waiting for the silo, not while the caller handles what arrived.
        idle.CancelAfter(Timeout.InfiniteTimeSpan);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        idle.CancelAfter(timeout);
        int n = inner.Read(buffer, offset, count);
        idle.CancelAfter(Timeout.InfiniteTimeSpan);
        return n;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
