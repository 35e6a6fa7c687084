using System.Buffers;
using BenchmarkDotNet.Attributes;
using Dt.Protocol;
using Dt.Security;

namespace Dt.Bench.Micro;

/// <summary>Length-prefix framing: write headers, and take whole frames off a buffer (one segment, or split across 4 KiB segments).</summary>
[BenchmarkCategory("frame")]
public class FrameCodecBenchmarks
{
    private const int Frames = 256;
    private byte[] _stream = [];
    private ReadOnlySequence<byte> _single, _split;

    [Params(128, 1024, 65536)]
    public int Body;

    [GlobalSetup]
    public void Setup()
    {
        _stream = new byte[Frames * (FrameCodec.HeaderSize + Body)];
        for (int i = 0; i < Frames; i++) FrameCodec.WriteHeader(_stream.AsSpan(i * (FrameCodec.HeaderSize + Body)), Body);
        _single = new ReadOnlySequence<byte>(_stream);
        _split = Segments.Split(_stream, 4096);
    }

    [Benchmark(OperationsPerInvoke = Frames, Description = "FrameCodec.WriteHeader, per frame")]
    public void WriteHeader()
    {
        var s = _stream.AsSpan();
        for (int i = 0; i < Frames; i++) FrameCodec.WriteHeader(s.Slice(i * (FrameCodec.HeaderSize + Body)), Body);
    }

    [Benchmark(OperationsPerInvoke = Frames, Description = "FrameCodec.TryRead, one segment, per frame")]
    public long ReadSingleSegment() => ReadAll(_single);

    [Benchmark(OperationsPerInvoke = Frames, Description = "FrameCodec.TryRead, 4 KiB segments, per frame")]
    public long ReadSplit() => ReadAll(_split);

    private static long ReadAll(ReadOnlySequence<byte> buffer)
    {
        long n = 0;
        while (FrameCodec.TryRead(ref buffer, 16 << 20, out var body) == FrameReadResult.Frame) n += body.Length;
        return n;
    }
}

/// <summary>AES-256-GCM per frame as a link does it (nonce = IV xor counter, the 4-byte header as associated data).</summary>
[BenchmarkCategory("aead")]
public class FrameCipherBenchmarks
{
    private const int Frames = 64;
    private CipherKey _key;
    private FrameCipher _sender = null!;
    private byte[] _plain = [], _sealed = [], _out = [], _header = new byte[4];

    [Params(128, 1024, 65536)]
    public int Size;

    [GlobalSetup]
    public void Setup()
    {
        _key = new CipherKey(Random.Shared.GetItems<byte>(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), 32), new byte[12]);
        _sender = new FrameCipher(_key);
        _plain = new byte[Size];
        Random.Shared.NextBytes(_plain);
        _out = new byte[Size + FrameCipher.TagSize];
        FrameCodec.WriteHeader(_header, Size + FrameCipher.TagSize);
        // Frames 0..63 sealed in order, so a fresh receiver opens them all.
        _sealed = new byte[Frames * (Size + FrameCipher.TagSize)];
        using var s = new FrameCipher(_key);
        for (int i = 0; i < Frames; i++) s.Seal(_header, _plain, _sealed.AsSpan(i * (Size + FrameCipher.TagSize), Size + FrameCipher.TagSize));
    }

    [GlobalCleanup]
    public void Cleanup() => _sender.Dispose();

    [Benchmark(OperationsPerInvoke = Frames, Description = "FrameCipher.Seal, per frame")]
    public void Seal()
    {
        for (int i = 0; i < Frames; i++) _sender.Seal(_header, _plain, _out);
    }

    /// <summary>Includes creating one receiver (an AesGcm key schedule) per 64 frames.</summary>
    [Benchmark(OperationsPerInvoke = Frames, Description = "FrameCipher.TryOpen, per frame")]
    public bool Open()
    {
        using var r = new FrameCipher(_key);
        bool ok = true;
        for (int i = 0; i < Frames; i++) ok &= r.TryOpen(_header, _sealed.AsSpan(i * (Size + FrameCipher.TagSize), Size + FrameCipher.TagSize), _out);
        return ok;
    }
}

internal static class Segments
{
    public static ReadOnlySequence<byte> Split(byte[] data, int size)
    {
        Segment? first = null, last = null;
        for (int i = 0; i < data.Length; i += size)
        {
            var mem = new ReadOnlyMemory<byte>(data, i, Math.Min(size, data.Length - i));
            if (first is null) first = last = new Segment(mem, 0);
            else last = last!.Append(mem);
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long running) { Memory = memory; RunningIndex = running; }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
