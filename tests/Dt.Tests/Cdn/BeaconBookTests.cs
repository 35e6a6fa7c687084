using System.Text.Json;
using Dt.Cdn;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Dt.Tests.Cdn;

/// <summary>The redirector's rules on a clock the test moves: live until a node misses its beacons or says it is
/// offline; the client's location first; equally loaded nodes in turn; beacons checked.</summary>
public sealed class BeaconBookTests
{
    private static Beacon B(string node, string location = "", double load = 0, bool online = true, string set = "site") =>
        new(set, node, $"http://{node}:80", location, load, online, TimeSpan.FromSeconds(1));

    [Fact]
    public void A_node_is_dropped_after_three_missed_beacons_or_at_once_when_it_says_it_is_offline()
    {
        var time = new ManualTime();
        var book = new BeaconBook("site", 3, time, NullLogger.Instance);
        book.Heard(B("a"));
        book.Heard(B("b"));
        book.Heard(B("other", set: "elsewhere"));
        Assert.Equal(["a", "b"], book.Live().Select(n => n.Node));
        time.Advance(TimeSpan.FromSeconds(2.9));
        book.Heard(B("b"));
        Assert.Equal(["a", "b"], book.Live().Select(n => n.Node));
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(["b"], book.Live().Select(n => n.Node));
        book.Heard(B("b", online: false));
        Assert.Empty(book.Live());
        Assert.Null(book.Choose(null));
    }

    [Fact]
    public void Clients_go_to_their_location_first_and_round_the_least_loaded()
    {
        var book = new BeaconBook("site", 3, new ManualTime(), NullLogger.Instance);
        book.Heard(B("eu1", "eu"));
        book.Heard(B("eu2", "eu"));
        book.Heard(B("us1", "us"));
        book.Heard(B("busy", "eu", load: 500));
        Assert.Equal(["eu1", "eu2"], Enumerable.Range(0, 6).Select(_ => book.Choose("eu")!.Node).Distinct().Order());
        Assert.Equal(["us1"], Enumerable.Range(0, 3).Select(_ => book.Choose("us")!.Node).Distinct());
        Assert.Equal(3, Enumerable.Range(0, 9).Select(_ => book.Choose("mars")!.Node).Distinct().Count());
    }

    [Fact]
    public void Beacons_round_trip_and_bad_ones_are_refused()
    {
        var b = B("n1", "eu", 2.5);
        Assert.Equal(b, Beacon.TryParse(b.ToJson(), out _));
        Assert.Null(Beacon.TryParse(JsonDocument.Parse("""{"type":"other"}""").RootElement, out var none));
        Assert.Null(none);
        Assert.Null(Beacon.TryParse(JsonDocument.Parse("""{"type":"dt.cdn.beacon","set":"site","node":"n","url":"file:///etc","location":"","load":0,"online":true,"intervalMs":1000}""").RootElement, out var error));
        Assert.Contains("http", error);
    }
}
