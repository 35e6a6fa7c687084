using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;

namespace Dt.Model;

/// <summary>
/// SHA-256 of short messages through OpenSSL's digest core, called directly. On a CPU with SHA instructions (x86 SHA
/// extensions, ARMv8 SHA2) OpenSSL hashes 100 bytes in about 0.1 µs, where <see cref="SHA256.HashData(ReadOnlySpan{byte}, Span{byte})"/>
/// takes 0.7 µs (most of it per-call work: an EVP context each time) and the eight-lane vector version
/// (<see cref="Sha256x8"/>) 0.37 µs per message. Every node hashes every object it receives, replays or is given,
/// so this is on each of those paths.
/// <para>
/// Used only where it pays and is known to be right: Linux with OpenSSL 3's libcrypto (which .NET itself uses there),
/// a CPU with SHA instructions, and a self-test against <see cref="SHA256"/> at first use; anything else keeps the
/// managed paths. Calls skip the GC transition, so they are limited to <see cref="MaxBytes"/> (a few microseconds);
/// longer messages go to <see cref="SHA256.HashData(ReadOnlySpan{byte}, Span{byte})"/>, whose per-call cost is then small.
/// </para>
/// </summary>
internal static unsafe class NativeSha256
{
    /// <summary>Longest message hashed here.</summary>
    public const int MaxBytes = 4096;

    private const string Library = "libcrypto.so.3";

    /// <summary>Room for OpenSSL's SHA256_CTX (112 bytes), with a margin.</summary>
    private const int ContextWords = 32;

    /// <summary>Whether <see cref="TryHash"/> hashes here (else it returns false and the caller hashes as before).</summary>
    public static bool IsAvailable { get; }

    static NativeSha256()
    {
        if (!OperatingSystem.IsLinux() || !HasShaInstructions()) return;
        if (!NativeLibrary.TryLoad(Library, typeof(NativeSha256).Assembly, null, out var lib)) return;
        // Builds without the deprecated low-level API lack these; then the managed paths stay.
        foreach (var name in (ReadOnlySpan<string>)["SHA256_Init", "SHA256_Update", "SHA256_Final"])
            if (!NativeLibrary.TryGetExport(lib, name, out _)) return;
        IsAvailable = SelfTest();
    }

    private static bool HasShaInstructions() =>
        System.Runtime.Intrinsics.Arm.Sha256.IsSupported
        || (X86Base.IsSupported && (X86Base.CpuId(7, 0).Ebx & (1 << 29)) != 0);

    /// <summary>The SHA-256 of <paramref name="message"/>; false when not available here or too long.</summary>
    public static bool TryHash(ReadOnlySpan<byte> message, out ObjectHash hash)
    {
        hash = default;
        return IsAvailable && message.Length <= MaxBytes && Hash(message, out hash);
    }

    // Why these exact choices (each measured, 100-byte messages):
    // - DllImport, not a function pointer from NativeLibrary: the runtime clears the vector registers' upper halves
    //   before a P/Invoke, and OpenSSL's SHA code (legacy SSE encoding) ran 2.7 times slower after .NET's AVX code
    //   left them dirty (0.28 µs against 0.11 µs).
    // - The context and the digest in per-thread heap arrays: on the stack, the calls took as long again.
    private static bool Hash(ReadOnlySpan<byte> message, out ObjectHash hash)
    {
        hash = default;
        var context = t_context ??= GC.AllocateArray<ulong>(ContextWords, pinned: true);
        var output = t_digest ??= GC.AllocateArray<byte>(ObjectHash.Size, pinned: true);
        fixed (byte* m = message)
        fixed (ulong* c = context)
        fixed (byte* d = output)
            if (Init(c) != 1 || Update(c, m, (nuint)message.Length) != 1 || Final(d, c) != 1) return false;
        hash = ObjectHash.Read(output);
        return true;
    }

    [ThreadStatic] private static ulong[]? t_context;
    [ThreadStatic] private static byte[]? t_digest;

    [DllImport(Library, EntryPoint = "SHA256_Init"), SuppressGCTransition]
    private static extern int Init(void* context);

    [DllImport(Library, EntryPoint = "SHA256_Update"), SuppressGCTransition]
    private static extern int Update(void* context, byte* data, nuint length);

    [DllImport(Library, EntryPoint = "SHA256_Final"), SuppressGCTransition]
    private static extern int Final(byte* digest, void* context);

    /// <summary>Every length that changes the padding's shape, against <see cref="SHA256"/>.</summary>
    private static bool SelfTest()
    {
        try
        {
            var message = new byte[300];
            for (int i = 0; i < message.Length; i++) message[i] = (byte)(i * 131 + 7);
            foreach (int length in (ReadOnlySpan<int>)[0, 1, 3, 55, 56, 63, 64, 65, 100, 119, 120, 128, 300])
                if (!Hash(message.AsSpan(0, length), out var got) || got != ObjectHash.Read(SHA256.HashData(message.AsSpan(0, length))))
                    return false;
            return true;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException or BadImageFormatException)
        {
            return false;
        }
    }
}
