using Xunit;

namespace Dt.Tests.Architecture;

/// <summary>The engine's dependencies run one way (docs/DESIGN.md, "Layers"); these tests fail on a new forbidden reference.</summary>
public sealed class LayerTests
{
    [Fact]
    public void Every_engine_namespace_uses_only_its_layer_and_those_below()
    {
        var violations = LayerCheck.Violations(LayerCheck.EngineSources());
        Assert.True(violations.Count == 0, "forbidden references:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void A_codec_that_reaches_up_to_the_node_is_caught()
    {
        var probe = LayerCheck.Parse("""
            namespace Dt.Protocol;
            internal static class ProbeCodec
            {
                public static int Links(Dt.Hosting.DtNode node) => node.LinkCount;
                public static Dt.Replication.TableState? Table;
            }
            """, "ProbeCodec.cs");
        var violations = LayerCheck.Violations(LayerCheck.EngineSources().Append(probe));
        Assert.Contains(violations, v => v.StartsWith("ProbeCodec.cs:4:") && v.Contains("Dt.Hosting.DtNode"));
        Assert.Contains(violations, v => v.StartsWith("ProbeCodec.cs:5:") && v.Contains("Dt.Replication.TableState"));
    }

    [Fact]
    public void The_engine_shows_only_its_facade()
    {
        var engine = typeof(Dt.Hosting.DtNode).Assembly;
        var exported = engine.GetExportedTypes().Select(t => t.FullName!).Order().ToList();
        string[] facade =
        [
            "Dt.Gossip.GossipOptions",
            "Dt.Hosting.DtConfigurationException", "Dt.Hosting.DtKeys", "Dt.Hosting.DtNode", "Dt.Hosting.DtOptions", "Dt.Hosting.DtStorage", "Dt.Hosting.NodeStore",
            "Dt.Hosting.ObjectBatch", // the bulk path's batch of canonical objects (issue 13)
            "Dt.InProcess.LocalGossipGrain", "Dt.InProcess.LocalMapGrain", "Dt.InProcess.LocalMessageStream", "Dt.InProcess.LocalNodeGrain", "Dt.InProcess.LocalTableGrain",
        ];
        Assert.Equal(facade.Order(), exported);
    }
}
