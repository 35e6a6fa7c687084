using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Dt.Tests.Architecture;

/// <summary>
/// The engine's layers, bottom to top, and a check that each namespace uses only its own layer and those below it
/// (compiled with Roslyn from the sources, so every name counts: fields, signatures, bodies, generic arguments).
/// A layer may hold several namespaces that use each other (the facade: the node and its in-process grains).
/// </summary>
internal static class LayerCheck
{
    /// <summary>Bottom to top. "Dt" is the root namespace: the node's log messages and metrics, used by every layer.</summary>
    public static readonly string[][] Layers =
    [
        ["Dt"],
        ["Dt.Protocol"],
        ["Dt.Model"],
        ["Dt.Events"],
        ["Dt.Security"],
        ["Dt.Transport", "Dt.Transport.InMemory"],
        ["Dt.Diagnostics"],
        ["Dt.Overlay"],
        ["Dt.Modules"],
        ["Dt.Replication"],
        ["Dt.Storage"],
        ["Dt.Messaging"],
        ["Dt.Gossip"],
        ["Dt.Maps"],
        ["Dt.Hosting", "Dt.InProcess"],
    ];

    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DtOrleans.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find DtOrleans.sln above " + AppContext.BaseDirectory);
    }

    public static IEnumerable<SyntaxTree> EngineSources()
    {
        string src = Path.Combine(RepoRoot(), "src", "Dt.Engine");
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")) continue;
            yield return Parse(File.ReadAllText(file), file);
        }
    }

    public static SyntaxTree Parse(string text, string path) => CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Preview), path: path);

    /// <summary>Every use of a type of a higher layer, as "file:line: namespace uses type (layer)".</summary>
    public static List<string> Violations(IEnumerable<SyntaxTree> sources)
    {
        var trees = sources.ToList();
        var compilation = CSharpCompilation.Create("Dt.Engine.LayerCheck", trees, References(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var layerOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Layers.Length; i++)
            foreach (var ns in Layers[i]) layerOf[ns] = i;

        var found = new List<string>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var ns in tree.GetRoot().DescendantNodes().OfType<BaseNamespaceDeclarationSyntax>())
            {
                string from = ns.Name.ToString();
                if (!layerOf.TryGetValue(from, out int fromLayer))
                {
                    found.Add($"{Where(ns)}: namespace {from} is in no layer (add it to LayerCheck.Layers)");
                    continue;
                }
                foreach (var name in ns.DescendantNodes().OfType<SimpleNameSyntax>())
                {
                    var info = model.GetSymbolInfo(name);
                    var symbol = info.Symbol ?? info.CandidateSymbols.FirstOrDefault();
                    var type = symbol as INamedTypeSymbol ?? symbol?.ContainingType;
                    if (type is null || !SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, compilation.Assembly)) continue;
                    string to = type.ContainingNamespace.ToDisplayString();
                    if (layerOf.TryGetValue(to, out int toLayer) && toLayer <= fromLayer) continue;
                    found.Add($"{Where(name)}: {from} uses {type.ToDisplayString()} ({to}, a layer above)");
                }
            }
        }
        return found.Distinct().ToList();
    }

    private static string Where(SyntaxNode node)
    {
        var span = node.GetLocation().GetLineSpan();
        return $"{Path.GetFileName(span.Path)}:{span.StartLinePosition.Line + 1}";
    }

    /// <summary>The framework and the engine's dependencies, as the test process has them (not the engine itself).</summary>
    private static List<MetadataReference> References()
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(p => !Path.GetFileName(p).Equals("Dt.Engine.dll", StringComparison.OrdinalIgnoreCase))
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase)
            .Select(g => g.First());
        var refs = new List<MetadataReference>();
        foreach (var p in paths)
        {
            try { refs.Add(MetadataReference.CreateFromFile(p)); }
            catch (BadImageFormatException) { }
        }
        return refs;
    }
}
