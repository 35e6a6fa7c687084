using Dt.Model;
using Dt.Replication;
using Xunit;

namespace Dt.Tests.Engine;

/// <summary>The table index against a <see cref="Dictionary{TKey,TValue}"/> under random adds, updates and removals.</summary>
public sealed class CompactIndexTests
{
    private readonly record struct Value(ObjectHash Hash, int Payload) : IKeyedByHash;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_adds_updates_and_removals_match_a_dictionary(int seed)
    {
        var random = new Random(seed);
        var index = new CompactIndex<Value>();
        if (seed == 2) index.EnsureCapacity(20_000); // reserved up front, as a bulk sync does; the others grow
        var model = new Dictionary<ObjectHash, int>();
        var keys = new List<ObjectHash>();
        ObjectHash Fresh()
        {
            ulong a = (ulong)random.NextInt64() << 1 | (uint)random.Next(2);
            return random.Next(50) switch
            {
                0 when keys.Count > 0 => new ObjectHash(keys[random.Next(keys.Count)].A, (ulong)random.NextInt64(), 1, 2), // shares the 64-bit key
                1 => new ObjectHash(0, (ulong)random.NextInt64(), 3, 4), // the key that marks an empty slot
                _ => new ObjectHash(a, (ulong)random.NextInt64(), 5, 6),
            };
        }

        for (int step = 0; step < 60_000; step++)
        {
            int op = random.Next(10);
            if (op < 5 || keys.Count == 0)
            {
                var h = Fresh();
                ref var slot = ref index.GetValueRefOrAddDefault(h, out bool exists);
                Assert.Equal(model.ContainsKey(h), exists);
                slot = new Value(h, step);
                if (!exists) keys.Add(h);
                model[h] = step;
            }
            else if (op < 7)
            {
                var h = keys[random.Next(keys.Count)];
                ref var slot = ref index.GetValueRefOrAddDefault(h, out bool exists);
                Assert.True(exists);
                Assert.Equal(model[h], slot.Payload);
                slot = slot with { Payload = -step };
                model[h] = -step;
            }
            else
            {
                int k = random.Next(keys.Count);
                var h = keys[k];
                keys[k] = keys[^1];
                keys.RemoveAt(keys.Count - 1);
                Assert.True(index.Remove(h, out var removed));
                Assert.Equal(model[h], removed.Payload);
                model.Remove(h);
                Assert.False(index.Remove(h, out _));
            }
            if (step % 5000 == 0) AssertSame(index, model);
            if (step % 7000 == 0) index.TrimExcess(); // as a quiet node does
        }
        AssertSame(index, model);
        Assert.True(index.OverflowCount > 0, "the run shared 64-bit keys and used the zero key");

        index.UpdateEach((ref Value v) => v = v with { Payload = v.Payload + 1 });
        foreach (var h in keys) model[h]++;
        AssertSame(index, model);
    }

    private static void AssertSame(CompactIndex<Value> index, Dictionary<ObjectHash, int> model)
    {
        Assert.Equal(model.Count, index.Count);
        foreach (var (h, payload) in model)
        {
            Assert.True(index.TryGetValue(h, out var v), $"missing {h}");
            Assert.Equal(payload, v.Payload);
        }
        var seen = new HashSet<ObjectHash>();
        foreach (var item in index)
        {
            Assert.True(seen.Add(item.Hash));
            Assert.Equal(item.Hash.A, item.Head);
            Assert.Equal(model[item.Hash], item.Value.Payload);
        }
        Assert.Equal(model.Count, seen.Count);
    }
}

/// <summary>A batch's precomputed fingerprints (what a table sums) against each member's version computing its own.</summary>
public sealed class BatchFingerprintTests
{
    [Fact]
    public void A_batch_fingerprints_its_members_as_their_versions_do()
    {
        var random = new Random(4);
        for (int round = 0; round < 50; round++)
        {
            var members = new BatchMember[8];
            var bytes = new byte[32];
            for (int i = 0; i < members.Length; i++)
            {
                random.NextBytes(bytes);
                members[i] = new BatchMember(ObjectHash.Read(bytes), random.Next(2) == 0);
            }
            var batch = new ChangeBatch(Guid.NewGuid(), (ulong)random.NextInt64(), members, new byte[64]);
            foreach (var m in members) Assert.Equal(batch.VersionOf(m).Fingerprint(m.Hash), batch.Fingerprint(m));
        }
    }
}

/// <summary>
/// What a master signs, byte for byte: the digest must not change with how it is computed, or every batch signed
/// before (on disk, on other nodes) would fail verification. The reference here is the layout hashed piece by piece.
/// </summary>
public sealed class BatchDigestTests
{
    [Theory]
    [InlineData("dt", "t", 1)]
    [InlineData("prod-net", "zones/example.org", 7)]
    [InlineData("réseau", "tablé", 4096)]
    public void The_digest_is_the_hash_of_the_signed_layout(string network, string table, int count)
    {
        var random = new Random(count);
        var members = new BatchMember[count];
        var bytes = new byte[32];
        for (int i = 0; i < count; i++)
        {
            random.NextBytes(bytes);
            members[i] = new BatchMember(ObjectHash.Read(bytes), random.Next(3) == 0);
        }
        var author = Guid.NewGuid();
        ulong hlc = (ulong)random.NextInt64();

        using var h = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        h.AppendData("dt batch v1\0"u8);
        h.AppendData(System.Text.Encoding.UTF8.GetBytes(network));
        h.AppendData([0]);
        h.AppendData(System.Text.Encoding.UTF8.GetBytes(table));
        h.AppendData([0]);
        h.AppendData(author.ToByteArray(bigEndian: true));
        var word = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(word, hlc);
        h.AppendData(word);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(word, count);
        h.AppendData(word.AsSpan(0, 4));
        foreach (var m in members)
        {
            h.AppendData([m.Removed ? (byte)1 : (byte)0]);
            var hash = new byte[32];
            m.Hash.Write(hash);
            h.AppendData(hash);
        }

        Assert.Equal(h.GetHashAndReset(), ChangeBatch.Digest(network, table, author, hlc, members));
    }
}
