using Xunit;

namespace Dt.Tests.Orleans;

public sealed class GrainKeyTests
{
    [Theory]
    [InlineData("n2/zone", true, "n2", false, "zone")]
    [InlineData("n2/a/b", true, "n2", false, "a/b")] // table names may hold '/': the node part ends at the first
    [InlineData("*/zone", true, null, true, "zone")]
    [InlineData("*n2/zone", true, "n2", true, "zone")]
    [InlineData("n2", false, "n2", false, "")]
    [InlineData("*", false, null, true, "")]
    [InlineData("*Secondary_1", false, "Secondary_1", true, "")]
    public void Keys_name_the_node_and_whether_writes_go_to_a_master(string key, bool hasName, string? node, bool unnamed, string name)
    {
        var k = DtGrainKeys.Parse(key, hasName);
        Assert.Equal(node, k.Node);
        Assert.Equal(unnamed, k.Unnamed);
        Assert.Equal(name, k.Name);
    }

    [Theory]
    [InlineData("zone", true, "no '/'")]
    [InlineData("a b/zone", true, "'a b' is not a node name")]
    [InlineData("**/zone", true, "'*' is not a node name")]
    [InlineData("", false, "'' is not a node name")]
    public void Bad_keys_are_refused_with_what_a_key_is(string key, bool hasName, string why)
    {
        var e = Assert.Throws<DtException>(() => DtGrainKeys.Parse(key, hasName));
        Assert.Equal(DtErrorCodes.InvalidArgument, e.Code);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Keys_are_built_the_way_they_are_parsed()
    {
        Assert.Equal("n2/zone", DtGrainKeys.Table("n2", "zone"));
        Assert.Equal("*/default", DtGrainKeys.Table(DtGrainKeys.Unnamed(), "default"));
        Assert.Equal("*n2/settings", DtGrainKeys.Map(DtGrainKeys.Unnamed("n2"), "settings"));
        Assert.Equal("n2/default", DtGrainKeys.MessageStream("n2"));
        Assert.Equal(DtErrorCodes.InvalidArgument, Assert.Throws<DtException>(() => DtGrainKeys.Node("a/b")).Code);
        Assert.Equal(DtErrorCodes.InvalidArgument, Assert.Throws<DtException>(() => DtGrainKeys.RequireNodeName("*")).Code);
        Assert.True(DtGrainKeys.IsValidNodeName("vm-9700"));
        Assert.False(DtGrainKeys.IsValidNodeName(new string('a', DtGrainKeys.MaxNodeNameLength + 1)));
    }
}
