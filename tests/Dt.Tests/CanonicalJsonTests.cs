using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dt.Replication;
using Xunit;
using Dt.Model;

namespace Dt.Tests;

public class CanonicalJsonTests
{
    private static string Canon(string json) => Encoding.UTF8.GetString(CanonicalJson.CanonicalizeUtf8(Encoding.UTF8.GetBytes(json)));

    private static string HashHexOf(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        return CanonicalJson.HashHex(doc.RootElement);
    }

    // ----------------------------------------------------------------------------------------------
    // Hashing
    // ----------------------------------------------------------------------------------------------

    [Fact]
    public void KnownHash_TestObject()
    {
        Assert.Equal("3e80b3778b3b03766e7be993131c0af2ad05630c5d96fb7fa132d05b77336e04", HashHexOf("{\"test\":\"test\"}"));
        // Whitespace and formatting in the input must not matter.
        Assert.Equal("3e80b3778b3b03766e7be993131c0af2ad05630c5d96fb7fa132d05b77336e04", HashHexOf(" {\n  \"test\" : \"test\"\n} "));
    }

    [Fact]
    public void Hash_IsSha256OfCanonicalBytes_AndHexIsLowercase()
    {
        using JsonDocument doc = JsonDocument.Parse("{\"b\":[1,2,{\"y\":1,\"x\":2}],\"a\":\"\u00e9\"}");
        byte[] canonical = CanonicalJson.ToBytes(doc.RootElement);
        Assert.Equal("{\"a\":\"\u00e9\",\"b\":[1,2,{\"x\":2,\"y\":1}]}", Encoding.UTF8.GetString(canonical));

        Span<byte> hash = stackalloc byte[32];
        CanonicalJson.Hash(doc.RootElement, hash);
        Assert.Equal(SHA256.HashData(canonical), hash.ToArray());

        string hex = CanonicalJson.HashHex(doc.RootElement);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(canonical)), hex);
        Assert.Equal(64, hex.Length);
        Assert.Equal(hex.ToLowerInvariant(), hex);
    }

    [Fact]
    public void Hash_RejectsShortDestination()
    {
        using JsonDocument doc = JsonDocument.Parse("{}");
        byte[] tooShort = new byte[31];
        Assert.Throws<ArgumentException>(() => CanonicalJson.Hash(doc.RootElement, tooShort));
    }

    [Fact]
    public void NestedReordering_AtEveryDepth_GivesEqualHashes()
    {
        const string a = "{\"z\":{\"b\":[{\"q\":1,\"p\":{\"n\":null,\"m\":true}}],\"a\":\"x\"},\"y\":2,\"x\":[3,{\"d\":4,\"c\":5}]}";
        const string b = "{\"x\":[3,{\"c\":5,\"d\":4}],\"y\":2,\"z\":{\"a\":\"x\",\"b\":[{\"p\":{\"m\":true,\"n\":null},\"q\":1}]}}";
        Assert.Equal(HashHexOf(a), HashHexOf(b));

        const string expected = "{\"x\":[3,{\"c\":5,\"d\":4}],\"y\":2,\"z\":{\"a\":\"x\",\"b\":[{\"p\":{\"m\":true,\"n\":null},\"q\":1}]}}";
        Assert.Equal(expected, Canon(a));
        Assert.Equal(expected, Canon(b));

        // Array order is significant and must not be sorted.
        Assert.NotEqual(HashHexOf("{\"x\":[3,{\"c\":5,\"d\":4}]}"), HashHexOf("{\"x\":[{\"c\":5,\"d\":4},3]}"));
        // A changed value deep inside must change the hash.
        Assert.NotEqual(HashHexOf(a), HashHexOf(a.Replace("\"m\":true", "\"m\":false", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("\"ab\"", "{\"0\":\"a\",\"1\":\"b\"}")]
    [InlineData("[1,2]", "{\"0\":1,\"1\":2}")]
    [InlineData("[\"a\",\"b\"]", "\"ab\"")]
    [InlineData("[\"a\",\"b\"]", "{\"0\":\"a\",\"1\":\"b\"}")]
    [InlineData("1", "\"1\"")]
    [InlineData("true", "\"true\"")]
    [InlineData("null", "\"null\"")]
    [InlineData("null", "{}")]
    [InlineData("[]", "{}")]
    [InlineData("[]", "\"\"")]
    [InlineData("[[1],2]", "[1,[2]]")]
    [InlineData("{\"a\":{\"b\":1}}", "{\"a\":{},\"b\":1}")]
    [InlineData("{\"ab\":1}", "{\"a\":{\"b\":1}}")]
    public void DistinctValues_DoNotCollide(string left, string right)
    {
        Assert.NotEqual(Canon(left), Canon(right));
        Assert.NotEqual(HashHexOf(left), HashHexOf(right));
    }

    // ----------------------------------------------------------------------------------------------
    // Numbers
    // ----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("0", "0")]
    [InlineData("-0", "0")]
    [InlineData("-0.0", "0")]
    [InlineData("0e10", "0")]
    [InlineData("1e21", "1e+21")]
    [InlineData("1E21", "1e+21")]
    [InlineData("1e20", "100000000000000000000")]
    [InlineData("1e-7", "1e-7")]
    [InlineData("0.0000001", "1e-7")]
    [InlineData("0.000001", "0.000001")]
    [InlineData("1e-6", "0.000001")]
    [InlineData("0.00001", "0.00001")]
    [InlineData("0.0001", "0.0001")]
    [InlineData("333333333.3333333", "333333333.3333333")]
    [InlineData("333333333.33333329", "333333333.3333333")]
    [InlineData("9007199254740993", "9007199254740992")]
    [InlineData("5e-324", "5e-324")]
    [InlineData("-5e-324", "-5e-324")]
    [InlineData("1.7976931348623157e308", "1.7976931348623157e+308")]
    [InlineData("123456789012345680000", "123456789012345680000")]
    [InlineData("12345678901234567890123", "1.2345678901234568e+22")]
    [InlineData("1E2", "100")]
    [InlineData("1e2", "100")]
    [InlineData("1.0", "1")]
    [InlineData("100.00", "100")]
    [InlineData("4.50", "4.5")]
    [InlineData("2e-3", "0.002")]
    [InlineData("1E30", "1e+30")]
    [InlineData("0.000000000000000000000000001", "1e-27")]
    [InlineData("123.456e5", "12345600")]
    [InlineData("-1.5e-7", "-1.5e-7")]
    [InlineData("1e15", "1000000000000000")]
    [InlineData("1e16", "10000000000000000")]
    [InlineData("0.1", "0.1")]
    [InlineData("-12.5", "-12.5")]
    [InlineData("10", "10")]
    [InlineData("-123", "-123")]
    [InlineData("1700000000000", "1700000000000")]
    [InlineData("999999999999999", "999999999999999")]
    [InlineData("-999999999999999", "-999999999999999")]
    [InlineData("1234567890123456", "1234567890123456")]
    [InlineData("12345678901234567", "12345678901234568")]
    public void Numbers_UseEcmaScriptForm(string input, string expected)
    {
        Assert.Equal(expected, Canon(input));
        Assert.Equal("[" + expected + "]", Canon("[" + input + "]"));
    }

    // RFC 8785 Appendix B: IEEE 754 bit patterns and their expected serialization.
    [Theory]
    [InlineData(0x0000000000000000UL, "0")]
    [InlineData(0x8000000000000000UL, "0")]
    [InlineData(0x0000000000000001UL, "5e-324")]
    [InlineData(0x8000000000000001UL, "-5e-324")]
    [InlineData(0x7fefffffffffffffUL, "1.7976931348623157e+308")]
    [InlineData(0xffefffffffffffffUL, "-1.7976931348623157e+308")]
    [InlineData(0x4340000000000000UL, "9007199254740992")]
    [InlineData(0xc340000000000000UL, "-9007199254740992")]
    [InlineData(0x4430000000000000UL, "295147905179352830000")]
    [InlineData(0x44b52d02c7e14af5UL, "9.999999999999997e+22")]
    [InlineData(0x44b52d02c7e14af6UL, "1e+23")]
    [InlineData(0x44b52d02c7e14af7UL, "1.0000000000000001e+23")]
    [InlineData(0x444b1ae4d6e2ef4eUL, "999999999999999700000")]
    [InlineData(0x444b1ae4d6e2ef4fUL, "999999999999999900000")]
    [InlineData(0x444b1ae4d6e2ef50UL, "1e+21")]
    [InlineData(0x3eb0c6f7a0b5ed8cUL, "9.999999999999997e-7")]
    [InlineData(0x3eb0c6f7a0b5ed8dUL, "0.000001")]
    [InlineData(0x41b3de4355555553UL, "333333333.3333332")]
    [InlineData(0x41b3de4355555554UL, "333333333.33333325")]
    [InlineData(0x41b3de4355555555UL, "333333333.3333333")]
    [InlineData(0x41b3de4355555556UL, "333333333.3333334")]
    [InlineData(0x41b3de4355555557UL, "333333333.33333343")]
    [InlineData(0xbecbf647612f3696UL, "-0.0000033333333333333333")]
    [InlineData(0x43143ff3c1cb0959UL, "1424953923781206.2")]
    public void Numbers_Rfc8785AppendixB(ulong bits, string expected)
    {
        double value = BitConverter.UInt64BitsToDouble(bits);
        string json = value.ToString("R", CultureInfo.InvariantCulture);
        Assert.Equal(expected, Canon(json));
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("[1,{\"a\":1e309}]")]
    public void Numbers_NotFiniteDouble_Throw(string json)
    {
        Assert.Throws<FormatException>(() => CanonicalJson.CanonicalizeUtf8(Encoding.UTF8.GetBytes(json)));
        using JsonDocument doc = JsonDocument.Parse(json);
        Assert.Throws<FormatException>(() => CanonicalJson.ToBytes(doc.RootElement));
    }

    // ----------------------------------------------------------------------------------------------
    // Strings
    // ----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("\"\\u0000\"", "\"\\u0000\"")]
    [InlineData("\"\\u0001\"", "\"\\u0001\"")]
    [InlineData("\"\\u001F\"", "\"\\u001f\"")]
    [InlineData("\"\\u000b\"", "\"\\u000b\"")]
    [InlineData("\"\\u0008\\u0009\\u000A\\u000c\\u000D\"", "\"\\b\\t\\n\\f\\r\"")]
    [InlineData("\"\\b\\t\\n\\f\\r\"", "\"\\b\\t\\n\\f\\r\"")]
    [InlineData("\"\\\"\"", "\"\\\"\"")]
    [InlineData("\"\\u0022\"", "\"\\\"\"")]
    [InlineData("\"\\\\\"", "\"\\\\\"")]
    [InlineData("\"\\u005C\"", "\"\\\\\"")]
    [InlineData("\"\\/\"", "\"/\"")]
    [InlineData("\"\\u0041\\u0042\"", "\"AB\"")]
    [InlineData("\"\\u007f\"", "\"\u007f\"")]
    [InlineData("\"\\u00e9\"", "\"\u00e9\"")]
    [InlineData("\"\u00e9\"", "\"\u00e9\"")]
    [InlineData("\"\\u2028\\u2029\"", "\"\u2028\u2029\"")]
    [InlineData("\"\u2028\u2029\"", "\"\u2028\u2029\"")]
    [InlineData("\"\\ud83d\\ude00\"", "\"\ud83d\ude00\"")]
    [InlineData("\"\\uD83D\\uDE00\"", "\"\ud83d\ude00\"")]
    [InlineData("\"\ud83d\ude00\"", "\"\ud83d\ude00\"")]
    [InlineData("\"a\\tb\u20ac\\u0000c\"", "\"a\\tb\u20ac\\u0000c\"")]
    [InlineData("\"plain ascii\"", "\"plain ascii\"")]
    [InlineData("\"\"", "\"\"")]
    public void Strings_EscapedLikeJsonStringify(string input, string expected)
    {
        Assert.Equal(expected, Canon(input));
        // Member names follow the same rules.
        Assert.Equal("{" + expected + ":1}", Canon("{" + input + ":1}"));
    }

    [Fact]
    public void Strings_ExactUtf8Bytes()
    {
        // Same string JSON.stringify("\u0000\u0001\b\t\n\u000b\f\r\u001f\u007f\"\\/\u2028\u2029é😀") produces in Node.
        byte[] bytes = CanonicalJson.CanonicalizeUtf8(
            "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\u007f\\\"\\\\\\/\\u2028\\u2029\\u00e9\\ud83d\\ude00\""u8);
        Assert.Equal(
            "225c75303030305c75303030315c625c745c6e5c75303030625c665c725c75303031667f5c225c5c2fe280a8e280a9c3a9f09f988022",
            Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public void Strings_LongEscapedString_RoundTrips()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 2000; i++)
        {
            sb.Append("x\u00e9\ud83d\ude00\n");
        }

        string value = sb.ToString();
        string json = JsonSerializer.Serialize(value); // escapes non-ASCII as \uXXXX
        string canonical = Canon(json);
        Assert.Equal("\"" + value.Replace("\n", "\\n", StringComparison.Ordinal) + "\"", canonical);
    }

    [Theory]
    [InlineData("\"\\ud800\"")]
    [InlineData("\"\\udc00\"")]
    [InlineData("\"a\\ud83dz\"")]
    [InlineData("\"\\ude00\\ud83d\"")]
    [InlineData("\"\\ud83d\\ud83d\"")]
    [InlineData("\"\\ud83d\ud83d\ude00\"")]
    [InlineData("{\"\\ud800\":1}")]
    [InlineData("[\"ok\",{\"k\":\"\\udfff\"}]")]
    public void Strings_LoneSurrogates_Throw(string json)
    {
        Assert.Throws<FormatException>(() => CanonicalJson.CanonicalizeUtf8(Encoding.UTF8.GetBytes(json)));
    }

    // ----------------------------------------------------------------------------------------------
    // Member ordering
    // ----------------------------------------------------------------------------------------------

    [Fact]
    public void Rfc8785_SortingExample_UsesUtf16CodeUnits()
    {
        const string input = """
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """;
        string expected =
            "{\"\\r\":\"Carriage Return\"," +
            "\"1\":\"One\"," +
            "\"\u0080\":\"Control\"," +
            "\"\u00f6\":\"Latin Small Letter O With Diaeresis\"," +
            "\"\u20ac\":\"Euro Sign\"," +
            "\"\ud83d\ude00\":\"Emoji: Grinning Face\"," +
            "\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}";
        Assert.Equal(expected, Canon(input));

        // Same keys given as literal UTF-8 instead of escapes.
        string literal = "{\"\u20ac\":1,\"\r\":2,\"\ufb33\":3,\"1\":4,\"\ud83d\ude00\":5,\"\u0080\":6,\"\u00f6\":7}"
            .Replace("\r", "\\r", StringComparison.Ordinal);
        Assert.Equal(
            "{\"\\r\":2,\"1\":4,\"\u0080\":6,\"\u00f6\":7,\"\u20ac\":1,\"\ud83d\ude00\":5,\"\ufb33\":3}",
            Canon(literal));
    }

    [Fact]
    public void Rfc8785_MainExample()
    {
        const string input = """
            {
              "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """;
        Assert.Equal(
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u20ac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}",
            Canon(input));
    }

    [Fact]
    public void Sorting_IsByCodeUnit_NotCultureOrLength()
    {
        Assert.Equal("{\"B\":1,\"a\":2,\"aa\":3,\"ab\":4,\"b\":5}", Canon("{\"b\":5,\"ab\":4,\"aa\":3,\"a\":2,\"B\":1}"));
        Assert.Equal("{\"\":0,\"10\":2,\"9\":1}", Canon("{\"9\":1,\"10\":2,\"\":0}"));
    }

    [Fact]
    public void Sorting_LargeObject_MatchesOrdinalSort()
    {
        var random = new Random(12345);
        var keys = new List<string>();
        for (int i = 0; i < 300; i++)
        {
            int len = random.Next(0, 6);
            var sb = new StringBuilder();
            for (int j = 0; j < len; j++)
            {
                int kind = random.Next(4);
                sb.Append(kind switch
                {
                    0 => ((char)random.Next('a', 'z' + 1)).ToString(),
                    1 => ((char)random.Next(0x80, 0x800)).ToString(),
                    2 => ((char)random.Next(0xE000, 0xFFFE)).ToString(),
                    _ => char.ConvertFromUtf32(random.Next(0x10000, 0x10FFFF)),
                });
            }

            keys.Add(sb.ToString() + "#" + i.ToString(CultureInfo.InvariantCulture)); // keep keys unique
        }

        var shuffled = new Dictionary<string, int>();
        foreach (string key in keys)
        {
            shuffled[key] = keys.IndexOf(key);
        }

        string json = JsonSerializer.Serialize(shuffled);
        var sorted = new List<string>(keys);
        sorted.Sort(string.CompareOrdinal);

        using JsonDocument doc = JsonDocument.Parse(Canon(json));
        var actual = new List<string>();
        foreach (JsonProperty property in doc.RootElement.EnumerateObject())
        {
            actual.Add(property.Name);
        }

        Assert.Equal(sorted, actual);
    }

    // ----------------------------------------------------------------------------------------------
    // Errors
    // ----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("{\"a\":1,\"a\":2}")]
    [InlineData("{\"a\":1,\"b\":2,\"a\":1}")]
    [InlineData("{\"a\":1,\"\\u0061\":2}")]
    [InlineData("[{\"x\":{\"k\":1,\"k\":1}}]")]
    [InlineData("{\"\ud83d\ude00\":1,\"\\ud83d\\ude00\":2}")]
    public void DuplicateMemberNames_Throw(string json)
    {
        FormatException ex = Assert.Throws<FormatException>(() => CanonicalJson.CanonicalizeUtf8(Encoding.UTF8.GetBytes(json)));
        Assert.Contains("Duplicate", ex.Message, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(json);
        Assert.Throws<FormatException>(() => CanonicalJson.HashHex(doc.RootElement));
    }

    [Fact]
    public void DuplicateMemberNames_InLargeObject_Throw()
    {
        var sb = new StringBuilder("{");
        for (int i = 0; i < 100; i++)
        {
            sb.Append('"').Append("k").Append(i.ToString(CultureInfo.InvariantCulture)).Append("\":1,");
        }

        sb.Append("\"k57\":2}");
        Assert.Throws<FormatException>(() => Canon(sb.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("{\"a\":1,}")]
    [InlineData("[1,2,]")]
    [InlineData("[1 2]")]
    [InlineData("{a:1}")]
    [InlineData("{'a':1}")]
    [InlineData("nul")]
    [InlineData("{} {}")]
    [InlineData("01")]
    [InlineData("+1")]
    [InlineData(".5")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("\"unterminated")]
    [InlineData("\"bad \\x escape\"")]
    [InlineData("\"raw\ttab\"")]
    [InlineData("// comment\n1")]
    public void MalformedJson_Throws(string json)
    {
        Assert.Throws<FormatException>(() => CanonicalJson.CanonicalizeUtf8(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void InvalidUtf8_Throws()
    {
        Assert.Throws<FormatException>(() => CanonicalJson.CanonicalizeUtf8([(byte)'"', 0xC3, 0x28, (byte)'"']));
        Assert.Throws<FormatException>(() => CanonicalJson.CanonicalizeUtf8([(byte)'"', 0xED, 0xA0, 0x80, (byte)'"'])); // UTF-8 encoded surrogate
    }

    [Fact]
    public void Depth_LimitedTo64()
    {
        string ok = new string('[', 64) + new string(']', 64);
        Assert.Equal(ok, Canon(ok));

        string tooDeep = new string('[', 65) + new string(']', 65);
        Assert.Throws<FormatException>(() => Canon(tooDeep));
    }

    // ----------------------------------------------------------------------------------------------
    // API shape
    // ----------------------------------------------------------------------------------------------

    [Fact]
    public void Write_AppendsToExistingBuffer_AndMatchesToBytes()
    {
        using JsonDocument doc = JsonDocument.Parse("{\"b\":true,\"a\":[null,false,-0,1.50,\"s\"]}");
        var writer = new ArrayBufferWriter<byte>(1); // tiny initial size forces growth
        writer.Write("prefix:"u8);
        CanonicalJson.Write(doc.RootElement, writer);
        Assert.Equal("prefix:{\"a\":[null,false,0,1.5,\"s\"],\"b\":true}", Encoding.UTF8.GetString(writer.WrittenSpan));
        Assert.Equal(
            Encoding.UTF8.GetBytes("{\"a\":[null,false,0,1.5,\"s\"],\"b\":true}"),
            CanonicalJson.ToBytes(doc.RootElement));
    }

    [Fact]
    public void NestedElement_CanBeCanonicalizedOnItsOwn()
    {
        using JsonDocument doc = JsonDocument.Parse("{\"outer\":{\"z\":\"\\u00e9\",\"a\":[2,1]},\"other\":0}");
        JsonElement inner = doc.RootElement.GetProperty("outer");
        Assert.Equal("{\"a\":[2,1],\"z\":\"\u00e9\"}", Encoding.UTF8.GetString(CanonicalJson.ToBytes(inner)));
        Assert.Equal("\"\u00e9\"", Encoding.UTF8.GetString(CanonicalJson.ToBytes(inner.GetProperty("z"))));
    }

    [Fact]
    public void CanonicalOutput_IsIdempotent_AndParsesBackToSameValue()
    {
        const string input = "{ \"k\" : [ 1e2 , \"\\u00e9\\n\" , { \"y\" : 0.5 , \"x\" : -0 } ] , \"a\" : null }";
        byte[] once = CanonicalJson.CanonicalizeUtf8(Encoding.UTF8.GetBytes(input));
        byte[] twice = CanonicalJson.CanonicalizeUtf8(once);
        Assert.Equal(once, twice);
        Assert.Equal("{\"a\":null,\"k\":[100,\"\u00e9\\n\",{\"x\":0,\"y\":0.5}]}", Encoding.UTF8.GetString(once));
    }
}
