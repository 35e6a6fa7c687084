using System.Text.Json;

namespace Dt.Cdn;

/// <summary>
/// A serving node's status, broadcast with SendMessage every interval: which set it serves, where (the base URL
/// clients are sent to), its location label, its load (requests per second over the last interval) and whether it is
/// online (false in its last beacon, when it stops cleanly).
/// </summary>
public sealed record Beacon(string Set, string Node, string Url, string Location, double Load, bool Online, TimeSpan Interval)
{
    public const string Type = "dt.cdn.beacon";

    public JsonElement ToJson() => JsonSerializer.SerializeToElement(new Dictionary<string, object>
    {
        ["type"] = Type, ["set"] = Set, ["node"] = Node, ["url"] = Url, ["location"] = Location,
        ["load"] = Math.Round(Load, 2), ["online"] = Online, ["intervalMs"] = (long)Interval.TotalMilliseconds,
    }, BeaconJson.Default.DictionaryStringObject);

    /// <summary>A beacon from a message, or null (with why) if the message is not one or does not check.</summary>
    public static Beacon? TryParse(JsonElement e, out string? error)
    {
        error = null;
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String || t.GetString() != Type) return null;
        try
        {
            string set = Str(e, "set", 64), node = Str(e, "node", 200), url = Str(e, "url", 2000), location = Str(e, "location", 64);
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https")) throw new FormatException($"url '{url}' is not http(s)");
            double load = e.TryGetProperty("load", out var l) && l.ValueKind == JsonValueKind.Number && l.GetDouble() is >= 0 and < 1e9 and var v ? v : throw new FormatException("load is not a number");
            bool online = e.TryGetProperty("online", out var o) && o.ValueKind is JsonValueKind.True or JsonValueKind.False ? o.GetBoolean() : throw new FormatException("online is not a boolean");
            long ms = e.TryGetProperty("intervalMs", out var i) && i.TryGetInt64(out long m) && m is >= 10 and <= 3_600_000 ? m : throw new FormatException("intervalMs is not between 10 and 3600000");
            return new Beacon(set, node, url.TrimEnd('/'), location, load, online, TimeSpan.FromMilliseconds(ms));
        }
        catch (Exception x) when (x is FormatException or InvalidOperationException)
        {
            error = x.Message;
            return null;
        }
    }

    private static string Str(JsonElement e, string name, int max) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { } s && s.Length <= max ? s : throw new FormatException($"{name} is not a string of at most {max} characters");
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
[System.Text.Json.Serialization.JsonSerializable(typeof(double))]
[System.Text.Json.Serialization.JsonSerializable(typeof(long))]
[System.Text.Json.Serialization.JsonSerializable(typeof(bool))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<LiveNode>))]
internal sealed partial class BeaconJson : System.Text.Json.Serialization.JsonSerializerContext;
