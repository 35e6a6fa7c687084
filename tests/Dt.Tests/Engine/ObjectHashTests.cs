using System.Security.Cryptography;
using Dt.Model;
using Xunit;

namespace Dt.Tests.Engine;

/// <summary>The eight-lane SHA-256 must give exactly what <see cref="SHA256"/> gives, for every length and mix of lengths.</summary>
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
        var hashes = new ObjectHash[objects.Count];
        ObjectHash.OfMany(objects, hashes);
        for (int i = 0; i < objects.Count; i++)
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(objects[i])), hashes[i].ToString());
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
