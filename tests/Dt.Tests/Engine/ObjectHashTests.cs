using System.Security.Cryptography;
using Dt.Model;
using Xunit;

namespace Dt.Tests.Engine;

/// <summary>
/// Every way an object is hashed (eight lanes, the CPU's SHA instructions through OpenSSL, one call each) must give
/// exactly what <see cref="SHA256"/> gives, for every length and mix of lengths.
/// </summary>
public class ObjectHashTests
{
    [Fact]
    public void Lanes_match_sha256_for_every_length_up_to_three_blocks_and_mixed()
    {
        var rng = new Random(5);
        // Every length 0..200 (one, two and four blocks; the 55/56 and 119/120 padding edges), in mixed lanes.
        var objects = new List<byte[]>();
        for (int len = 0; len <= 200; len++)
        {
            var b = new byte[len];
            rng.NextBytes(b);
            objects.Add(b);
        }
        for (int i = 0; i < 300; i++)
        {
            var b = new byte[rng.Next(0, 3000)];
            rng.NextBytes(b);
            objects.Add(b);
        }
        // The lanes themselves (whichever path OfMany takes on this CPU), eight messages at a time.
        var lanes = new Sha256x8();
        var got = new ObjectHash[Sha256x8.Lanes];
        var inLanes = objects.Where(o => o.Length <= Sha256x8.MaxLaneBytes).ToList();
        for (int start = 0; start < inLanes.Count; start += Sha256x8.Lanes)
        {
            int n = Math.Min(Sha256x8.Lanes, inLanes.Count - start);
            for (int k = 0; k < n; k++) lanes.Set(k, inLanes[start + k]);
            lanes.Hash(n, got);
            for (int k = 0; k < n; k++) Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(inLanes[start + k])), got[k].ToString());
        }
        // And OfMany, which picks lanes, the CPU's SHA instructions or one call each.
        var hashes = new ObjectHash[objects.Count];
        ObjectHash.OfMany(objects, hashes);
        for (int i = 0; i < objects.Count; i++)
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(objects[i])), hashes[i].ToString());
    }

    [Fact]
    public void The_cpus_sha_instructions_through_openssl_match_sha256_for_every_length_they_take()
    {
        if (!NativeSha256.IsAvailable)
            Assert.Skip("no SHA instructions or no OpenSSL libcrypto here: hashing takes the managed paths (tested above)");
        var rng = new Random(6);
        for (int len = 0; len <= NativeSha256.MaxBytes; len += len < 300 ? 1 : 97)
        {
            var b = new byte[len];
            rng.NextBytes(b);
            Assert.True(NativeSha256.TryHash(b, out var hash));
            Assert.Equal(ObjectHash.Read(SHA256.HashData(b)), hash);
            Assert.Equal(hash, ObjectHash.Of(b));
        }
        // Longer messages are left to SHA256.HashData (a call that skips the GC transition must be short).
        var longer = new byte[NativeSha256.MaxBytes + 1];
        Assert.False(NativeSha256.TryHash(longer, out _));
        Assert.Equal(ObjectHash.Read(SHA256.HashData(longer)), ObjectHash.Of(longer));
    }

    [Fact]
    public void A_partly_filled_set_of_lanes_hashes_only_those_set()
    {
        var lanes = new Sha256x8();
        lanes.Set(0, "{\"a\":1}"u8);
        lanes.Set(1, "x"u8);
        lanes.Set(2, new byte[64]);
        var hashes = new ObjectHash[Sha256x8.Lanes];
        lanes.Hash(3, hashes);
        Assert.Equal(ObjectHash.Of("{\"a\":1}"u8), hashes[0]);
        Assert.Equal(ObjectHash.Of("x"u8), hashes[1]);
        Assert.Equal(ObjectHash.Of(new byte[64]), hashes[2]);
        Assert.Equal(default, hashes[3]);
    }
}
