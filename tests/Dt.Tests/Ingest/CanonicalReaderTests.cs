using System.Text;
using System.Text.Json;
using Dt.Model;
using Xunit;

namespace Dt.Tests.Ingest;

/// <summary>
/// The bulk paths canonicalize straight from UTF-8 (Utf8JsonReader); the single add canonicalizes a JsonElement. Both
/// must give the same bytes, hence the same object hash, for every value: key order, whitespace, escapes, numbers.
/// </summary>
public class CanonicalReaderTests
{
    private static byte[] ViaElement(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return CanonicalJson.ToBytes(doc.RootElement);
    }

    private static byte[] ViaReader(string json) => CanonicalJson.CanonicalizeUtf8(Encoding.UTF8.GetBytes(json));

    [Theory]
    [InlineData("""{"b":1,"a":2}""")]
    [InlineData(""" { "z" : [ 3 , { "y" : 1 , "x" : 2 } ] ,  "a" : "\u00e9\n" } """)]
    [InlineData("""{"\u0062":1,"a":{"d":[],"c":{}}}""")]
    [InlineData("""{"a":1e21,"b":1E-7,"c":-0,"d":0.10,"e":9007199254740993,"f":123456789012345,"g":-5e-324}""")]
    [InlineData("""["\ud83d\ude00","\u2028","\/","\"\\", "\u001f"]""")]
    [InlineData("""{"\ud800\udc00":1,"\uffff":2,"a":3}""")]
    [InlineData("\uFEFF{\"bom\":true}")]
    [InlineData("""[null,true,false,"",{},[]]""")]
    public void The_reader_path_gives_the_bytes_of_the_element_path(string json)
    {
        string text = json.TrimStart('\uFEFF');
        Assert.Equal(Encoding.UTF8.GetString(ViaElement(text)), Encoding.UTF8.GetString(ViaReader(json)));
    }

    [Fact]
    public void Random_values_canonicalize_alike_on_both_paths()
    {
        var random = new Random(1234);
        for (int i = 0; i < 2_000; i++)
        {
            string json = RandomValue(random, depth: 0);
            Assert.Equal(Encoding.UTF8.GetString(ViaElement(json)), Encoding.UTF8.GetString(ViaReader(json)));
        }
    }

    [Theory]
    [InlineData("""{"a":1,"b":2,"a":3}""")]
    [InlineData("""{"b":1,"a":2,"b":3}""")]
    [InlineData("""{"a":1,"\u0061":2}""")]
    [InlineData("""{"a":1} x""")]
    [InlineData("""[1,]""")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("1e400")]
    [InlineData("\"\\ud800\"")]
    [InlineData("{\"a\":1}{\"b\":2}")]
    public void Bad_values_are_refused_on_the_reader_path(string json) =>
        Assert.Throws<FormatException>(() => ViaReader(json));

    [Fact]
    public void Depth_over_64_is_refused()
    {
        Assert.Throws<FormatException>(() => ViaReader(new string('[', 65) + new string(']', 65)));
        Assert.Equal("[[]]", Encoding.UTF8.GetString(ViaReader("[[]]")));
    }

    private static string RandomValue(Random r, int depth)
    {
        int kind = depth > 3 ? r.Next(4) : r.Next(6);
        switch (kind)
        {
            case 0: return RandomNumber(r);
            case 1: return JsonSerializer.Serialize(RandomString(r));
            case 2: return r.Next(3) switch { 0 => "true", 1 => "false", _ => "null" };
            case 3: return "\"" + RandomEscapes(r) + "\"";
            case 4:
                return "[" + string.Join(r.Next(2) == 0 ? "," : " , ", Enumerable.Range(0, r.Next(5)).Select(_ => RandomValue(r, depth + 1))) + "]";
            default:
                var names = new HashSet<string>(StringComparer.Ordinal);
                int n = r.Next(30);
                while (names.Count < n) names.Add(RandomString(r));
                return "{" + string.Join(",", names.Select(k => (r.Next(4) == 0 ? " \n" : "") + JsonSerializer.Serialize(k) + ":" + RandomValue(r, depth + 1))) + "}";
        }
    }

    private static string RandomNumber(Random r) => r.Next(6) switch
    {
        0 => r.Next(-1000, 1000).ToString(),
        1 => (r.NextDouble() * Math.Pow(10, r.Next(-30, 30))).ToString("R"),
        2 => r.NextInt64().ToString(),
        3 => $"{r.Next(1, 99)}e{r.Next(-20, 25)}",
        4 => $"-{r.Next(0, 9)}.{r.Next(0, 999):000}",
        _ => "0.0",
    };

    private static string RandomString(Random r)
    {
        const string alphabet = "abcxyzABC019_-é\u00ff\u4e2d\uffff";
        var sb = new StringBuilder();
        int n = r.Next(8);
        for (int i = 0; i < n; i++) sb.Append(alphabet[r.Next(alphabet.Length)]);
        if (r.Next(10) == 0) sb.Append("😀");
        return sb.ToString();
    }

    private static string RandomEscapes(Random r)
    {
        string[] parts = ["a", "\\n", "\\u00e9", "\\\"", "\\\\", "\\/", "\\t", "\\ud83d\\ude00", "\\u001f", "z"];
        return string.Concat(Enumerable.Range(0, r.Next(6)).Select(_ => parts[r.Next(parts.Length)]));
    }
}
