using Dt.Replication;
using Xunit;

namespace Dt.Tests.Engine;

public sealed class UntrustedSignersTests
{
    [Fact]
    public void Drops_are_logged_at_once_then_at_most_once_a_minute_per_signer_with_the_count_since()
    {
        var time = new ManualTime();
        var signers = new UntrustedSigners(time);
        Guid a = Guid.NewGuid(), b = Guid.NewGuid();
        Assert.Equal(10, signers.Record(a, forged: false, "zone", "n1", 10)); // first drop of a: logged
        Assert.Equal(0, signers.Record(a, forged: false, "zone", "n1", 5));   // within the minute: counted only
        Assert.Equal(3, signers.Record(b, forged: false, "zone", "n2", 3));   // another signer has its own rate
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, signers.Record(a, forged: false, "other", "n1", 1));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(7, signers.Record(a, forged: false, "other", "n1", 1));  // 5 + 1 + 1 since the last line

        var warnings = signers.Warnings();
        Assert.Equal(2, warnings.Count);
        Assert.Contains($"untrusted master {UntrustedSigners.Fingerprint(a)} (17 changes, last to table 'other' from n1 0 s ago)", warnings[0]);
        Assert.All(warnings, w => Assert.StartsWith("degraded: ", w));

        time.Advance(UntrustedSigners.Recent);
        Assert.Empty(signers.Warnings()); // no drop for ten minutes: no longer degraded
    }

    [Fact]
    public void Forged_changes_of_a_trusted_master_are_told_apart_and_the_table_stays_bounded()
    {
        var time = new ManualTime();
        var signers = new UntrustedSigners(time);
        var a = Guid.NewGuid();
        signers.Record(a, forged: true, "zone", "n1", 1);
        Assert.Contains("fail verification (forged or altered", Assert.Single(signers.Warnings()));
        for (int i = 0; i < 1000; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            signers.Record(Guid.NewGuid(), forged: false, "zone", "n1", 1);
        }
        Assert.True(signers.Warnings().Count <= 64);
    }
}
