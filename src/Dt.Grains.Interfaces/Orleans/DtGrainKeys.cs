namespace Dt;

/// <summary>
/// The keys of Dt's grains in an Orleans cluster. A key names the node (a Dt node's stable name: its silo name, or
/// <c>Dt:NodeName</c>), then, for tables, maps and message streams, what on that node:
/// <list type="bullet">
/// <item><c>n2</c>, <c>n2/zone</c>: node n2 itself. Calls to a node that is not running fail at once; writes to a
/// non-master node fail with <c>not_master</c>.</item>
/// <item><c>*</c>, <c>*/zone</c>: no node named. The grain lives on a master's silo when one is up (else on any Dt
/// silo), and a write reaches a master whichever silo answers.</item>
/// <item><c>*n2</c>, <c>*n2/zone</c>: no node named, but read from n2 (what a grain inside silo n2 gets when it names
/// no node); writes still reach a master.</item>
/// </list>
/// </summary>
public static class DtGrainKeys
{
    /// <summary>The node part of a key that names no node.</summary>
    public const string AnyNode = "*";

    public const int MaxNodeNameLength = 128;

    /// <summary>Key of a node's <see cref="INodeGrain"/> or <see cref="IGossipGrain"/>.</summary>
    public static string Node(string node) => CheckNode(node);

    /// <summary>Key of a table on a node (default table "default").</summary>
    public static string Table(string node, string table = "default") => $"{CheckNode(node)}/{table}";

    /// <summary>Key of a shared map as a node holds it.</summary>
    public static string Map(string node, string map) => $"{CheckNode(node)}/{map}";

    /// <summary>Key of a node's message stream ("default": the one stream of broadcast messages).</summary>
    public static string MessageStream(string node, string stream = "default") => $"{CheckNode(node)}/{stream}";

    /// <summary>The node part for "no node named, prefer <paramref name="preferred"/>" (null: no preference).</summary>
    public static string Unnamed(string? preferred = null) => preferred is null ? AnyNode : AnyNode + CheckNode(preferred);

    /// <summary>Whether <paramref name="name"/> can name a node: 1 to 128 letters, digits, '.', '_', '-' or ':'.</summary>
    public static bool IsValidNodeName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxNodeNameLength
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':');

    /// <summary>Splits a key into its node part and the rest (null for node and gossip keys).</summary>
    public static DtGrainKey Parse(string key, bool hasName)
    {
        string nodePart = key, rest = "";
        if (hasName)
        {
            int slash = key.IndexOf('/');
            if (slash < 0) throw Invalid(key, "it has no '/' between the node and the name (e.g. 'n2/zone' or '*/zone')");
            nodePart = key[..slash];
            rest = key[(slash + 1)..];
        }
        bool unnamed = nodePart.StartsWith('*');
        string? node = unnamed ? (nodePart.Length == 1 ? null : nodePart[1..]) : nodePart;
        if (node is not null && !IsValidNodeName(node)) throw Invalid(key, NotANodeName(node).Message);
        return new DtGrainKey(node, unnamed, rest);
    }

    /// <summary><paramref name="name"/> if it can name a node, else <c>invalid_argument</c> saying what a name is.</summary>
    public static string RequireNodeName(string name) => IsValidNodeName(name) ? name : throw NotANodeName(name);

    /// <summary>A key's node part: a node name, <c>*</c>, or <c>*</c> and a node name.</summary>
    private static string CheckNode(string node) =>
        node == AnyNode || (node.StartsWith('*') && IsValidNodeName(node[1..])) || IsValidNodeName(node) ? node : throw NotANodeName(node);

    private static DtException NotANodeName(string name) =>
        new(DtErrorCodes.InvalidArgument, $"'{name}' is not a node name (1 to {MaxNodeNameLength} letters, digits, '.', '_', '-' or ':'; '*' for no node)");

    private static DtException Invalid(string key, string why) =>
        new(DtErrorCodes.InvalidArgument, $"grain key '{key}' is invalid: {why}");
}

/// <summary>A parsed grain key: the node named (null: none), whether it was addressed without naming a node
/// (writes then go to a master), and the table, map or stream name.</summary>
public readonly record struct DtGrainKey(string? Node, bool Unnamed, string Name);
