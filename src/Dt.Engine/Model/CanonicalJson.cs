using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Unicode;

namespace Dt.Model;

/// <summary>
/// RFC 8785 JSON Canonicalization Scheme (JCS) writer and hasher for <see cref="JsonElement"/> values.
/// </summary>
/// <remarks>
/// Strings and member names are read straight from the document's raw UTF-8 (via <see cref="JsonMarshal"/>),
/// so canonicalizing does not allocate per member or per string; scratch buffers come from <see cref="ArrayPool{T}"/>.
/// </remarks>
internal static class CanonicalJson
{
    private const int MaxParseDepth = 64;

    /// <summary>Largest scratch writer kept per thread between calls; bigger ones are dropped after use.</summary>
    private const int MaxCachedWriterCapacity = 64 * 1024;

    /// <summary>Objects with at most this many members are sorted by insertion sort, larger ones by heapsort.</summary>
    private const int InsertionSortThreshold = 24;

    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        MaxDepth = MaxParseDepth,
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
    };

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>UTF-16 code units that JCS must escape inside a string: control chars, quote and backslash.</summary>
    private static readonly SearchValues<char> CharsToEscape = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000A\u000B\u000C\u000D\u000E\u000F" +
        "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F" +
        "\"\\");

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    /// Writes the RFC 8785 (JCS) canonical form of a JSON value: object members sorted by UTF-16 code units of their names, recursively at every depth; no whitespace; strings escaped as JCS/ECMAScript JSON.stringify does (only \" \\ \b \f \n \r \t and \u00XX for other control chars &lt; 0x20; everything else literal UTF-8, including U+2028/2029 and non-ASCII); numbers in ECMAScript Number-to-String form (shortest round-trip double, e.g. 1e+21, 1e-7, 0.000001, 123456789012345680000, -0 becomes 0). Duplicate member names in an object: throw FormatException. Numbers that are not finite doubles (e.g. 1e400): throw FormatException. Lone surrogates in strings: throw FormatException.
    public static void Write(JsonElement value, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var sink = new Sink(output);
        WriteValue(value, ref sink);
        sink.Flush();
    }

    /// <summary>Returns the RFC 8785 canonical form of <paramref name="value"/> as a new array.</summary>
    public static byte[] ToBytes(JsonElement value)
    {
        ArrayBufferWriter<byte> scratch = RentScratch();
        try
        {
            var sink = new Sink(scratch);
            WriteValue(value, ref sink);
            sink.Flush();
            return scratch.WrittenSpan.ToArray();
        }
        finally
        {
            ReturnScratch(scratch);
        }
    }

    /// SHA-256 of the canonical form, written into a 32-byte destination.
    public static void Hash(JsonElement value, Span<byte> destination32)
    {
        if (destination32.Length < SHA256.HashSizeInBytes)
        {
            throw new ArgumentException(
                $"Destination must be at least {SHA256.HashSizeInBytes} bytes long.", nameof(destination32));
        }

        ArrayBufferWriter<byte> scratch = RentScratch();
        try
        {
            var sink = new Sink(scratch);
            WriteValue(value, ref sink);
            sink.Flush();
            SHA256.HashData(scratch.WrittenSpan, destination32);
        }
        finally
        {
            ReturnScratch(scratch);
        }
    }

    /// Lowercase hex of Hash.
    public static string HashHex(JsonElement value)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        Hash(value, hash);
        return Convert.ToHexStringLower(hash);
    }

    /// Canonicalizes UTF-8 JSON (max depth 64) straight from its bytes with a <see cref="Utf8JsonReader"/> (no document is
    /// built) and returns the canonical bytes; FormatException with a clear message on malformed JSON or the cases above.
    public static byte[] CanonicalizeUtf8(ReadOnlySpan<byte> utf8Json)
    {
        ReaderScratch scratch = ReaderScratch.Rent();
        try
        {
            WriteUtf8(utf8Json, scratch.Output, scratch);
            return scratch.Output.WrittenSpan.ToArray();
        }
        finally
        {
            ReaderScratch.Return(scratch);
        }
    }

    /// <summary>
    /// Appends the canonical form of the one JSON value in <paramref name="utf8Json"/> (a UTF-8 byte-order mark and
    /// surrounding whitespace allowed) to <paramref name="output"/>; FormatException as <see cref="CanonicalizeUtf8"/>.
    /// On an exception the output may hold part of the value: callers truncate it.
    /// </summary>
    internal static void WriteUtf8(ReadOnlySpan<byte> utf8Json, CanonicalBuffer output, ReaderScratch? scratch = null)
    {
        if (utf8Json.StartsWith(Utf8Bom))
        {
            utf8Json = utf8Json[Utf8Bom.Length..];
        }

        var reader = new Utf8JsonReader(utf8Json, ReaderOptions);
        try
        {
            if (!reader.Read())
            {
                throw new FormatException("Malformed JSON: the input holds no JSON value.");
            }

            WriteFromReader(ref reader, output, scratch);
            // Throws on anything but whitespace after the value.
            while (reader.Read())
            {
            }
        }
        catch (JsonException ex)
        {
            throw new FormatException($"Malformed JSON: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Appends the canonical form of the value whose first token <paramref name="reader"/> is on (a value inside a
    /// larger document, e.g. an element of an array), leaving the reader on its last token. Throws FormatException for
    /// the cases above; the reader's own JsonException for malformed JSON.
    /// </summary>
    internal static void WriteFromReader(ref Utf8JsonReader reader, CanonicalBuffer output, ReaderScratch? scratch = null)
    {
        ReaderScratch s = scratch ?? ReaderScratch.Rent();
        CanonicalBuffer? outer = s.Target;
        s.Target = output; // member positions are taken in the buffer written to
        try
        {
            var sink = new Sink(output);
            WriteReaderValue(ref reader, ref sink, s);
            sink.Flush();
        }
        finally
        {
            s.Target = outer;
            if (scratch is null)
            {
                ReaderScratch.Return(s);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Scratch buffer
    // ---------------------------------------------------------------------------------------------

    private static ArrayBufferWriter<byte> RentScratch()
    {
        ArrayBufferWriter<byte>? scratch = t_scratch;
        if (scratch is null)
        {
            return new ArrayBufferWriter<byte>(256);
        }

        t_scratch = null; // guards against re-entrancy on the same thread
        scratch.ResetWrittenCount();
        return scratch;
    }

    private static void ReturnScratch(ArrayBufferWriter<byte> scratch)
    {
        if (scratch.Capacity <= MaxCachedWriterCapacity)
        {
            t_scratch = scratch;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Values
    // ---------------------------------------------------------------------------------------------

    private static void WriteValue(JsonElement value, ref Sink output)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(value, ref output);
                break;
            case JsonValueKind.Array:
                WriteArray(value, ref output);
                break;
            case JsonValueKind.String:
                WriteStringValue(JsonMarshal.GetRawUtf8Value(value), ref output);
                break;
            case JsonValueKind.Number:
                WriteNumber(value, ref output);
                break;
            case JsonValueKind.True:
                WriteAscii("true"u8, ref output);
                break;
            case JsonValueKind.False:
                WriteAscii("false"u8, ref output);
                break;
            case JsonValueKind.Null:
                WriteAscii("null"u8, ref output);
                break;
            default:
                throw new ArgumentException("The JSON element has no value (default JsonElement).", nameof(value));
        }
    }

    private static void WriteArray(JsonElement array, ref Sink output)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        output.WriteByte((byte)'[');
        bool first = true;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (!first)
            {
                output.WriteByte((byte)',');
            }

            first = false;
            WriteValue(item, ref output);
        }

        output.WriteByte((byte)']');
    }

    private struct Member
    {
        public JsonProperty Property;
        public int NameStart;
        public int NameLength;

        /// <summary>The raw name has no escapes, so its source bytes are already canonical.</summary>
        public bool NameIsVerbatim;
    }

    private const int InlineMemberCount = 16;

    /// <summary>Stack storage for the members of small objects (the common case), so they need no pool round trip.</summary>
    [InlineArray(InlineMemberCount)]
    private struct InlineMembers
    {
        private Member _element;
    }

    private static void WriteObject(JsonElement obj, ref Sink output)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();

        int count = obj.GetPropertyCount();
        if (count == 0)
        {
            WriteAscii("{}"u8, ref output);
            return;
        }

        InlineMembers inlineMembers = default;
        Member[]? rentedMembers = null;
        Span<Member> members = count <= InlineMemberCount
            ? inlineMembers
            : (rentedMembers = ArrayPool<Member>.Shared.Rent(count));

        char[]? rentedNames = null;
        Span<char> names = stackalloc char[256];
        int used = 0;
        int n = 0;
        try
        {
            // Decode every member name to UTF-16 once; ordinal char comparison is JCS's UTF-16 code unit order.
            foreach (JsonProperty property in obj.EnumerateObject())
            {
                ReadOnlySpan<byte> rawName = JsonMarshal.GetRawUtf8PropertyName(property);
                // Decoded UTF-16 length never exceeds the raw UTF-8 length.
                if (names.Length - used < rawName.Length)
                {
                    char[] bigger = ArrayPool<char>.Shared.Rent(Math.Max(names.Length * 2, used + rawName.Length));
                    names[..used].CopyTo(bigger);
                    if (rentedNames is not null)
                    {
                        ArrayPool<char>.Shared.Return(rentedNames);
                    }

                    rentedNames = bigger;
                    names = bigger;
                }

                bool verbatim = rawName.IndexOf((byte)'\\') < 0;
                int length;
                if (verbatim)
                {
                    if (Utf8.ToUtf16(rawName, names[used..], out _, out length, replaceInvalidSequences: false)
                        != OperationStatus.Done)
                    {
                        throw new FormatException("JSON member name contains invalid UTF-8.");
                    }
                }
                else
                {
                    length = DecodeJsonString(rawName, names[used..]);
                }

                members[n] = new Member
                {
                    Property = property,
                    NameStart = used,
                    NameLength = length,
                    NameIsVerbatim = verbatim,
                };
                used += length;
                n++;
            }

            members = members[..n];
            SortMembers(members, names);

            output.WriteByte((byte)'{');
            for (int i = 0; i < members.Length; i++)
            {
                ReadOnlySpan<char> name = names.Slice(members[i].NameStart, members[i].NameLength);
                if (i > 0)
                {
                    ReadOnlySpan<char> previous = names.Slice(members[i - 1].NameStart, members[i - 1].NameLength);
                    if (name.SequenceEqual(previous))
                    {
                        throw new FormatException($"Duplicate member name \"{Printable(name)}\" in JSON object.");
                    }

                    output.WriteByte((byte)',');
                }

                JsonProperty property = members[i].Property;
                if (members[i].NameIsVerbatim)
                {
                    WriteQuotedVerbatim(JsonMarshal.GetRawUtf8PropertyName(property), ref output);
                }
                else
                {
                    WriteString(name, ref output);
                }

                output.WriteByte((byte)':');
                WriteValue(property.Value, ref output);
            }

            output.WriteByte((byte)'}');
        }
        finally
        {
            if (rentedMembers is not null)
            {
                // Do not keep JsonDocument references alive through the shared pool.
                Array.Clear(rentedMembers, 0, n);
                ArrayPool<Member>.Shared.Return(rentedMembers);
            }

            if (rentedNames is not null)
            {
                ArrayPool<char>.Shared.Return(rentedNames);
            }
        }
    }

    private static int CompareNames(in Member x, in Member y, ReadOnlySpan<char> names) =>
        names.Slice(x.NameStart, x.NameLength).SequenceCompareTo(names.Slice(y.NameStart, y.NameLength));

    /// <summary>Sorts members by name in UTF-16 code unit order without allocating.</summary>
    private static void SortMembers(Span<Member> members, ReadOnlySpan<char> names)
    {
        if (members.Length <= InsertionSortThreshold)
        {
            for (int i = 1; i < members.Length; i++)
            {
                Member current = members[i];
                int j = i - 1;
                while (j >= 0 && CompareNames(members[j], current, names) > 0)
                {
                    members[j + 1] = members[j];
                    j--;
                }

                members[j + 1] = current;
            }

            return;
        }

        // Heapsort: O(n log n) worst case, in place. Stability is irrelevant (equal names are rejected).
        for (int i = members.Length / 2 - 1; i >= 0; i--)
        {
            SiftDown(members, i, members.Length, names);
        }

        for (int end = members.Length - 1; end > 0; end--)
        {
            (members[0], members[end]) = (members[end], members[0]);
            SiftDown(members, 0, end, names);
        }
    }

    private static void SiftDown(Span<Member> heap, int root, int length, ReadOnlySpan<char> names)
    {
        while (true)
        {
            int child = 2 * root + 1;
            if (child >= length)
            {
                return;
            }

            if (child + 1 < length && CompareNames(heap[child + 1], heap[child], names) > 0)
            {
                child++;
            }

            if (CompareNames(heap[root], heap[child], names) >= 0)
            {
                return;
            }

            (heap[root], heap[child]) = (heap[child], heap[root]);
            root = child;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Values straight from UTF-8 (Utf8JsonReader)
    // ---------------------------------------------------------------------------------------------

    private static void WriteReaderValue(ref Utf8JsonReader reader, ref Sink output, ReaderScratch scratch)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                WriteReaderObject(ref reader, ref output, scratch);
                break;
            case JsonTokenType.StartArray:
                RuntimeHelpers.EnsureSufficientExecutionStack();
                output.WriteByte((byte)'[');
                bool first = true;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (!first)
                    {
                        output.WriteByte((byte)',');
                    }

                    first = false;
                    WriteReaderValue(ref reader, ref output, scratch);
                }

                output.WriteByte((byte)']');
                break;
            case JsonTokenType.String:
                // ValueSpan is the raw content without quotes; a raw quote cannot start it, so no quotes are stripped.
                WriteStringValue(reader.ValueSpan, ref output);
                break;
            case JsonTokenType.Number:
                if (!TryWriteShortInteger(reader.ValueSpan, ref output))
                {
                    if (!reader.TryGetDouble(out double value) || !double.IsFinite(value))
                    {
                        throw new FormatException(
                            $"JSON number {System.Text.Encoding.UTF8.GetString(reader.ValueSpan)} is not representable as a finite IEEE 754 double.");
                    }

                    WriteDouble(value, ref output);
                }

                break;
            case JsonTokenType.True:
                WriteAscii("true"u8, ref output);
                break;
            case JsonTokenType.False:
                WriteAscii("false"u8, ref output);
                break;
            case JsonTokenType.Null:
                WriteAscii("null"u8, ref output);
                break;
            default:
                throw new FormatException($"Malformed JSON: unexpected {reader.TokenType} token.");
        }
    }

    /// <summary>
    /// Writes the members in the order they come, noting where each begins and ends; only when the names were not
    /// already in order (rare for machine-written JSON) are the written members moved into order afterwards. So an
    /// ordered object costs no copy at all.
    /// </summary>
    private static void WriteReaderObject(ref Utf8JsonReader reader, ref Sink output, ReaderScratch s)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        output.WriteByte((byte)'{');
        int memberBase = s.MemberCount, nameBase = s.NameCount;
        bool ordered = true;
        try
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                ReadOnlySpan<byte> raw = reader.ValueSpan;
                bool escaped = reader.ValueIsEscaped;
                int nameStart = s.NameCount;
                Span<char> names = s.ReserveNames(raw.Length);
                int length;
                if (!escaped)
                {
                    if (Utf8.ToUtf16(raw, names, out _, out length, replaceInvalidSequences: false) != OperationStatus.Done)
                    {
                        throw new FormatException("JSON member name contains invalid UTF-8.");
                    }
                }
                else
                {
                    length = DecodeJsonString(raw, names);
                }

                s.NameCount += length;
                ReadOnlySpan<char> name = s.Names.AsSpan(nameStart, length);
                if (s.MemberCount > memberBase)
                {
                    ref ReaderMember previous = ref s.Members[s.MemberCount - 1];
                    int order = s.Names.AsSpan(previous.NameStart, previous.NameLength).SequenceCompareTo(name);
                    if (order == 0)
                    {
                        throw new FormatException($"Duplicate member name \"{Printable(name)}\" in JSON object.");
                    }

                    ordered &= order < 0;
                    output.WriteByte((byte)',');
                }

                output.Flush();
                int start = s.Target!.WrittenCount;
                if (!escaped)
                {
                    WriteQuotedVerbatim(raw, ref output);
                }
                else
                {
                    WriteString(name, ref output);
                }

                output.WriteByte((byte)':');
                reader.Read();
                WriteReaderValue(ref reader, ref output, s);
                output.Flush();
                s.PushMember(new ReaderMember(nameStart, length, start, s.Target!.WrittenCount));
            }

            if (!ordered)
            {
                Reorder(s, memberBase);
            }

            output.WriteByte((byte)'}');
        }
        finally
        {
            s.MemberCount = memberBase;
            s.NameCount = nameBase;
        }
    }

    /// <summary>Rewrites the members above <paramref name="memberBase"/> (already written, comma-separated) in name order.</summary>
    private static void Reorder(ReaderScratch s, int memberBase)
    {
        Span<ReaderMember> members = s.Members.AsSpan(memberBase, s.MemberCount - memberBase);
        int regionStart = members[0].Start, regionLength = members[^1].End - regionStart;
        members.Sort(new ReaderMemberOrder(s.Names));
        for (int i = 1; i < members.Length; i++)
        {
            ReadOnlySpan<char> name = s.Names.AsSpan(members[i].NameStart, members[i].NameLength);
            if (name.SequenceEqual(s.Names.AsSpan(members[i - 1].NameStart, members[i - 1].NameLength)))
            {
                throw new FormatException($"Duplicate member name \"{Printable(name)}\" in JSON object.");
            }
        }

        byte[] copy = ArrayPool<byte>.Shared.Rent(regionLength);
        try
        {
            Span<byte> region = s.Target!.WrittenSpanMutable.Slice(regionStart, regionLength);
            region.CopyTo(copy);
            int w = 0;
            for (int i = 0; i < members.Length; i++)
            {
                if (i > 0)
                {
                    region[w++] = (byte)',';
                }

                ReadOnlySpan<byte> member = copy.AsSpan(members[i].Start - regionStart, members[i].End - members[i].Start);
                member.CopyTo(region[w..]);
                w += member.Length;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    internal readonly record struct ReaderMember(int NameStart, int NameLength, int Start, int End);

    private readonly struct ReaderMemberOrder(char[] names) : IComparer<ReaderMember>
    {
        public int Compare(ReaderMember x, ReaderMember y) =>
            names.AsSpan(x.NameStart, x.NameLength).SequenceCompareTo(names.AsSpan(y.NameStart, y.NameLength));
    }

    /// <summary>
    /// Per-thread scratch of the reader path: the output, and stacks of member positions and decoded names shared by
    /// every nesting level (each object pops what it pushed), so canonicalizing allocates nothing but the result.
    /// </summary>
    internal sealed class ReaderScratch
    {
        [ThreadStatic]
        private static ReaderScratch? t_cached;

        public CanonicalBuffer Output { get; } = new(256);

        /// <summary>The buffer the value is being written to (<see cref="Output"/> or the caller's).</summary>
        public CanonicalBuffer? Target;

        public ReaderMember[] Members = new ReaderMember[32];

        public int MemberCount;

        public char[] Names = new char[512];

        public int NameCount;

        public static ReaderScratch Rent()
        {
            ReaderScratch? s = t_cached;
            t_cached = null; // re-entrancy on the same thread gets its own
            s ??= new ReaderScratch();
            s.Output.Clear();
            return s;
        }

        public static void Return(ReaderScratch s)
        {
            if (s.Output.Capacity <= MaxCachedWriterCapacity && s.Names.Length <= MaxCachedWriterCapacity)
            {
                s.MemberCount = 0;
                s.NameCount = 0;
                s.Target = null;
                t_cached = s;
            }
        }

        /// <summary>Room for a name of at most <paramref name="rawLength"/> UTF-8 bytes (never more UTF-16 units).</summary>
        public Span<char> ReserveNames(int rawLength)
        {
            if (Names.Length - NameCount < rawLength)
            {
                Array.Resize(ref Names, Math.Max(Names.Length * 2, NameCount + rawLength));
            }

            return Names.AsSpan(NameCount);
        }

        public void PushMember(ReaderMember member)
        {
            if (MemberCount == Members.Length)
            {
                Array.Resize(ref Members, Members.Length * 2);
            }

            Members[MemberCount++] = member;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Strings
    // ---------------------------------------------------------------------------------------------

    /// <summary>Writes a string value given its raw JSON token (with quotes, possibly escaped).</summary>
    private static void WriteStringValue(scoped ReadOnlySpan<byte> raw, ref Sink output)
    {
        if (raw.Length >= 2 && raw[0] == (byte)'"' && raw[^1] == (byte)'"')
        {
            raw = raw[1..^1];
        }

        // Fast path: no escapes in the source. The JSON reader already rejected raw control characters and
        // unescaped quotes, so valid UTF-8 without backslashes is already in canonical form.
        if (raw.IndexOf((byte)'\\') < 0)
        {
            if (!Utf8.IsValid(raw))
            {
                throw new FormatException("JSON string contains invalid UTF-8.");
            }

            WriteQuotedVerbatim(raw, ref output);
            return;
        }

        char[]? rented = null;
        Span<char> chars = raw.Length <= 256
            ? stackalloc char[256]
            : (rented = ArrayPool<char>.Shared.Rent(raw.Length));
        try
        {
            int length = DecodeJsonString(raw, chars);
            WriteString(chars[..length], ref output);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Decodes the contents of a JSON string token (no quotes) into UTF-16, validating UTF-8 and surrogate
    /// pairing. <paramref name="destination"/> must be at least <c>raw.Length</c> long. Returns chars written.
    /// </summary>
    private static int DecodeJsonString(ReadOnlySpan<byte> raw, Span<char> destination)
    {
        int written = 0;
        bool sawEscapedSurrogate = false;
        while (!raw.IsEmpty)
        {
            int backslash = raw.IndexOf((byte)'\\');
            ReadOnlySpan<byte> run = backslash < 0 ? raw : raw[..backslash];
            if (!run.IsEmpty)
            {
                OperationStatus status = Utf8.ToUtf16(
                    run, destination[written..], out _, out int runChars, replaceInvalidSequences: false);
                if (status != OperationStatus.Done)
                {
                    throw new FormatException("JSON string contains invalid UTF-8.");
                }

                written += runChars;
            }

            if (backslash < 0)
            {
                break;
            }

            raw = raw[backslash..];
            if (raw.Length < 2)
            {
                throw new FormatException("JSON string ends with an incomplete escape sequence.");
            }

            char c;
            int consumed = 2;
            switch (raw[1])
            {
                case (byte)'"': c = '"'; break;
                case (byte)'\\': c = '\\'; break;
                case (byte)'/': c = '/'; break;
                case (byte)'b': c = '\b'; break;
                case (byte)'f': c = '\f'; break;
                case (byte)'n': c = '\n'; break;
                case (byte)'r': c = '\r'; break;
                case (byte)'t': c = '\t'; break;
                case (byte)'u':
                    if (raw.Length < 6 || !Utf8Parser.TryParse(raw.Slice(2, 4), out ushort unit, out int hexLength, 'x') || hexLength != 4)
                    {
                        throw new FormatException("JSON string contains an invalid \\u escape sequence.");
                    }

                    c = (char)unit;
                    consumed = 6;
                    sawEscapedSurrogate |= char.IsSurrogate(c);
                    break;
                default:
                    throw new FormatException("JSON string contains an invalid escape sequence.");
            }

            destination[written++] = c;
            raw = raw[consumed..];
        }

        // Literal UTF-8 can only produce well-formed pairs; only \u escapes can yield lone surrogates
        // (including an escaped high surrogate followed by a literal supplementary character).
        if (sawEscapedSurrogate)
        {
            ValidateSurrogates(destination[..written]);
        }

        return written;
    }

    private static void ValidateSurrogates(ReadOnlySpan<char> chars)
    {
        int i = chars.IndexOfAnyInRange('\uD800', '\uDFFF');
        while (i >= 0 && i < chars.Length)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i += 2;
            }
            else
            {
                throw new FormatException(
                    $"JSON string contains a lone surrogate U+{(int)chars[i]:X4} at UTF-16 offset {i}.");
            }

            int next = chars[i..].IndexOfAnyInRange('\uD800', '\uDFFF');
            i = next < 0 ? -1 : i + next;
        }
    }

    /// <summary>Writes <c>"raw"</c>: for string contents without escapes, which are canonical as they stand.</summary>
    private static void WriteQuotedVerbatim(scoped ReadOnlySpan<byte> raw, ref Sink output)
    {
        Span<byte> destination = output.GetSpan(raw.Length + 2);
        destination[0] = (byte)'"';
        raw.CopyTo(destination[1..]);
        destination[raw.Length + 1] = (byte)'"';
        output.Advance(raw.Length + 2);
    }

    /// <summary>Writes an already-validated UTF-16 string with JCS escaping.</summary>
    private static void WriteString(scoped ReadOnlySpan<char> value, ref Sink output)
    {
        output.WriteByte((byte)'"');
        while (!value.IsEmpty)
        {
            int special = value.IndexOfAny(CharsToEscape);
            ReadOnlySpan<char> run = special < 0 ? value : value[..special];
            if (!run.IsEmpty)
            {
                Span<byte> destination = output.GetSpan(checked(run.Length * 3));
                OperationStatus status = Utf8.FromUtf16(
                    run, destination, out _, out int bytesWritten, replaceInvalidSequences: false);
                if (status != OperationStatus.Done)
                {
                    throw new FormatException("JSON string contains a lone surrogate.");
                }

                output.Advance(bytesWritten);
            }

            if (special < 0)
            {
                break;
            }

            WriteEscape(value[special], ref output);
            value = value[(special + 1)..];
        }

        output.WriteByte((byte)'"');
    }

    private static void WriteEscape(char c, ref Sink output)
    {
        char shortForm = c switch
        {
            '"' => '"',
            '\\' => '\\',
            '\b' => 'b',
            '\f' => 'f',
            '\n' => 'n',
            '\r' => 'r',
            '\t' => 't',
            _ => '\0',
        };

        if (shortForm != '\0')
        {
            Span<byte> two = output.GetSpan(2);
            two[0] = (byte)'\\';
            two[1] = (byte)shortForm;
            output.Advance(2);
            return;
        }

        // Remaining control characters: \u00XX with lowercase hex, as JSON.stringify does.
        Span<byte> six = output.GetSpan(6);
        six[0] = (byte)'\\';
        six[1] = (byte)'u';
        six[2] = (byte)'0';
        six[3] = (byte)'0';
        six[4] = (byte)"0123456789abcdef"[(c >> 4) & 0xF];
        six[5] = (byte)"0123456789abcdef"[c & 0xF];
        output.Advance(6);
    }

    private static string Printable(ReadOnlySpan<char> name)
    {
        const int Max = 64;
        return name.Length <= Max ? name.ToString() : string.Concat(name[..Max], "…");
    }

    // ---------------------------------------------------------------------------------------------
    // Numbers (ECMA-262 Number::toString)
    // ---------------------------------------------------------------------------------------------

    private static void WriteNumber(JsonElement element, ref Sink output)
    {
        // Fast path: an integer token of at most 15 digits is exactly representable as a double and
        // ECMAScript prints it digit for digit. ("-0" is excluded; it must become "0".)
        if (TryWriteShortInteger(JsonMarshal.GetRawUtf8Value(element), ref output))
        {
            return;
        }

        if (!element.TryGetDouble(out double value) || !double.IsFinite(value))
        {
            throw new FormatException(
                $"JSON number {element.GetRawText()} is not representable as a finite IEEE 754 double.");
        }

        WriteDouble(value, ref output);
    }

    /// <summary>Writes an integer token of at most 15 digits as it stands (exact as a double; "-0" excluded).</summary>
    private static bool TryWriteShortInteger(ReadOnlySpan<byte> raw, ref Sink output)
    {
        int start = raw.Length > 0 && raw[0] == (byte)'-' ? 1 : 0;
        int digitCount = raw.Length - start;
        if (digitCount is > 0 and <= 15
            && raw[start] != (byte)'0'
            && !raw[start..].ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            raw.CopyTo(output.GetSpan(raw.Length));
            output.Advance(raw.Length);
            return true;
        }

        return false;
    }

    private static void WriteDouble(double value, ref Sink output)
    {
        if (value == 0)
        {
            // +0 and -0 both serialize as "0".
            output.WriteByte((byte)'0');
            return;
        }

        // .NET Core 3.0+ "R" yields the shortest round-trippable digits (closest to the value on ties),
        // which are exactly the digits ECMAScript's Number::toString uses. Only the layout differs.
        Span<char> formatted = stackalloc char[40];
        if (!value.TryFormat(formatted, out int formattedLength, "R", CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException("Unexpected double formatting failure.");
        }

        formatted = formatted[..formattedLength];

        bool negative = false;
        int pos = 0;
        if (formatted[0] == '-')
        {
            negative = true;
            pos = 1;
        }

        // Collect significant digits d1..dk and the position of the decimal point.
        Span<byte> digits = stackalloc byte[32];
        int k = 0;
        int pointPosition = 0; // digits (incl. leading zeros) before '.', adjusted for stripped leading zeros
        bool seenPoint = false;
        for (; pos < formatted.Length; pos++)
        {
            char c = formatted[pos];
            if (c == '.')
            {
                seenPoint = true;
            }
            else if (c is 'E' or 'e')
            {
                break;
            }
            else
            {
                if (k == 0 && c == '0')
                {
                    // Leading zero: "0.00012" has the point shifted left for every zero skipped after it.
                    if (seenPoint)
                    {
                        pointPosition--;
                    }

                    continue;
                }

                digits[k++] = (byte)c;
                if (!seenPoint)
                {
                    pointPosition++;
                }
            }
        }

        int exponent = 0;
        if (pos < formatted.Length)
        {
            exponent = int.Parse(formatted[(pos + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }

        while (k > 1 && digits[k - 1] == (byte)'0')
        {
            k--;
        }

        // value = 0.d1..dk * 10^n, i.e. s * 10^(n-k) with 10^(k-1) <= s < 10^k.
        int n = pointPosition + exponent;
        ReadOnlySpan<byte> d = digits[..k];

        Span<byte> buffer = output.GetSpan(48);
        int w = 0;
        if (negative)
        {
            buffer[w++] = (byte)'-';
        }

        if (k <= n && n <= 21)
        {
            // Integer: digits followed by n-k zeros.
            d.CopyTo(buffer[w..]);
            w += k;
            buffer.Slice(w, n - k).Fill((byte)'0');
            w += n - k;
        }
        else if (0 < n && n <= 21)
        {
            // Fixed with the point inside the digits.
            d[..n].CopyTo(buffer[w..]);
            w += n;
            buffer[w++] = (byte)'.';
            d[n..].CopyTo(buffer[w..]);
            w += k - n;
        }
        else if (-6 < n && n <= 0)
        {
            // 0.000ddd
            buffer[w++] = (byte)'0';
            buffer[w++] = (byte)'.';
            buffer.Slice(w, -n).Fill((byte)'0');
            w += -n;
            d.CopyTo(buffer[w..]);
            w += k;
        }
        else
        {
            // Exponential: d[.ddd]e(+|-)x
            buffer[w++] = d[0];
            if (k > 1)
            {
                buffer[w++] = (byte)'.';
                d[1..].CopyTo(buffer[w..]);
                w += k - 1;
            }

            buffer[w++] = (byte)'e';
            int e = n - 1;
            buffer[w++] = e < 0 ? (byte)'-' : (byte)'+';
            if (!Utf8Formatter.TryFormat(Math.Abs(e), buffer[w..], out int expLength))
            {
                throw new InvalidOperationException("Unexpected exponent formatting failure.");
            }

            w += expLength;
        }

        output.Advance(w);
    }

    // ---------------------------------------------------------------------------------------------
    // Output helpers
    // ---------------------------------------------------------------------------------------------

    private static void WriteAscii(scoped ReadOnlySpan<byte> ascii, ref Sink output)
    {
        ascii.CopyTo(output.GetSpan(ascii.Length));
        output.Advance(ascii.Length);
    }

    /// <summary>
    /// Batches writes to an <see cref="IBufferWriter{T}"/>: one GetSpan/Advance pair per chunk instead of per token.
    /// </summary>
    private ref struct Sink
    {
        private const int MinChunk = 256;

        private readonly IBufferWriter<byte> _output;
        private Span<byte> _buffer;
        private int _position;

        public Sink(IBufferWriter<byte> output)
        {
            _output = output;
            _buffer = default;
            _position = 0;
        }

        /// <summary>Returns at least <paramref name="sizeHint"/> writable bytes; follow with <see cref="Advance"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Span<byte> GetSpan(int sizeHint)
        {
            if (_buffer.Length - _position < sizeHint)
            {
                Grow(sizeHint);
            }

            return _buffer[_position..];
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Advance(int count) => _position += count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void WriteByte(byte value)
        {
            if (_position >= _buffer.Length)
            {
                Grow(1);
            }

            _buffer[_position++] = value;
        }

        /// <summary>Commits everything written so far to the underlying writer.</summary>
        public void Flush()
        {
            if (_position > 0)
            {
                _output.Advance(_position);
            }

            _position = 0;
            _buffer = default;
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private void Grow(int sizeHint)
        {
            Flush();
            _buffer = _output.GetSpan(Math.Max(sizeHint, MinChunk));
            if (_buffer.Length < sizeHint)
            {
                throw new InvalidOperationException("IBufferWriter returned a span smaller than requested.");
            }
        }
    }
}

/// <summary>
/// A growable byte buffer whose written bytes stay addressable (and rewritable, for reordering members), with a
/// truncate so a failed value can be taken back.
/// </summary>
internal sealed class CanonicalBuffer(int initialCapacity) : IBufferWriter<byte>
{
    private byte[] _buffer = new byte[Math.Max(initialCapacity, 16)];

    public int WrittenCount { get; private set; }

    public int Capacity => _buffer.Length;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, WrittenCount);

    internal Span<byte> WrittenSpanMutable => _buffer.AsSpan(0, WrittenCount);

    public void Clear() => WrittenCount = 0;

    public void Truncate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, WrittenCount);
        WrittenCount = count;
    }

    public void Advance(int count) => WrittenCount += count;

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(WrittenCount);
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(WrittenCount);
    }

    private void Ensure(int sizeHint)
    {
        int needed = WrittenCount + Math.Max(sizeHint, 1);
        if (needed > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(needed, _buffer.Length * 2));
        }
    }
}
