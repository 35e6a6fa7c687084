using System.Globalization;
using System.Text;

namespace Dt.Dns.Wire;

/// <summary>
/// An absolute domain name: labels of raw bytes (case preserved), at most 63 bytes each and 255 bytes on the wire.
/// Equality is case-insensitive for ASCII letters (RFC 4343), through <see cref="Key"/>: the presentation form in
/// lower case. Presentation form escapes '.', '\', '"', '(', ')', ';', '@', '$' and blanks with a backslash and
/// other bytes outside printable ASCII as \DDD, so the text form is unambiguous and ASCII.
/// </summary>
public sealed class DnsName : IEquatable<DnsName>, IComparable<DnsName>
{
    public const int MaxLabelLength = 63;
    public const int MaxWireLength = 255;

    public static readonly DnsName Root = new([], validated: true);

    private readonly byte[][] _labels;
    private string? _text;
    private string? _key;
    private string[]? _suffixKeys;

    public DnsName(IReadOnlyList<byte[]> labels)
    {
        int wire = 1;
        foreach (var l in labels)
        {
            if (l.Length == 0) throw new FormatException("a domain name has an empty label");
            if (l.Length > MaxLabelLength) throw new FormatException($"a label is {l.Length} bytes; at most {MaxLabelLength} are allowed");
            wire += 1 + l.Length;
        }
        if (wire > MaxWireLength) throw new FormatException($"a domain name is {wire} bytes on the wire; at most {MaxWireLength} are allowed");
        _labels = [.. labels];
        WireLength = wire;
    }

    private DnsName(byte[][] labels, bool validated)
    {
        _labels = labels;
        int wire = 1;
        foreach (var l in labels) wire += 1 + l.Length;
        WireLength = wire;
    }

    public int LabelCount => _labels.Length;

    /// <summary>Length of the uncompressed wire form, including the final zero byte.</summary>
    public int WireLength { get; }

    public bool IsRoot => _labels.Length == 0;

    public ReadOnlySpan<byte> Label(int index) => _labels[index];

    internal byte[] LabelArray(int index) => _labels[index];

    /// <summary>The name without its first label (the root's parent is the root).</summary>
    public DnsName Parent => _labels.Length == 0 ? this : new DnsName(_labels[1..], validated: true);

    /// <summary>The name made of the labels from <paramref name="index"/> on.</summary>
    public DnsName Suffix(int index) => index == 0 ? this : index >= _labels.Length ? Root : new DnsName(_labels[index..], validated: true);

    /// <summary>Presentation form with the trailing dot ("www.example.test.", root ".").</summary>
    public override string ToString() => _text ??= Render(lower: false, null);

    /// <summary>Lower-case presentation form: equal for names equal under DNS rules.</summary>
    public string Key
    {
        get
        {
            if (_key is null)
            {
                var starts = new int[_labels.Length + 1];
                _key = Render(lower: true, starts);
                var suffixes = new string[_labels.Length + 1];
                for (int i = 0; i < _labels.Length; i++) suffixes[i] = i == 0 ? _key : _key[starts[i]..];
                suffixes[_labels.Length] = ".";
                _suffixKeys = suffixes;
            }
            return _key;
        }
    }

    /// <summary>The <see cref="Key"/> of <see cref="Suffix"/>(index), cached: used by compression and zone lookups.</summary>
    public string SuffixKey(int index)
    {
        _ = Key;
        return _suffixKeys![index];
    }

    public DnsName ToLowerCase()
    {
        bool any = false;
        foreach (var l in _labels)
            foreach (var b in l)
                if (b is >= (byte)'A' and <= (byte)'Z') { any = true; break; }
        if (!any) return this;
        var labels = new byte[_labels.Length][];
        for (int i = 0; i < labels.Length; i++)
        {
            labels[i] = (byte[])_labels[i].Clone();
            for (int j = 0; j < labels[i].Length; j++)
                if (labels[i][j] is >= (byte)'A' and <= (byte)'Z') labels[i][j] += 32;
        }
        return new DnsName(labels, validated: true);
    }

    /// <summary>True if this name equals <paramref name="zone"/> or lies below it.</summary>
    public bool IsSubdomainOf(DnsName zone)
    {
        if (zone._labels.Length > _labels.Length) return false;
        return SuffixKey(_labels.Length - zone._labels.Length) == zone.Key;
    }

    /// <summary>This name with one more label in front.</summary>
    public DnsName Prepend(ReadOnlySpan<byte> label)
    {
        var labels = new byte[_labels.Length + 1][];
        labels[0] = label.ToArray();
        Array.Copy(_labels, 0, labels, 1, _labels.Length);
        return new DnsName(labels);
    }

    public bool IsWildcard => _labels.Length > 0 && _labels[0] is [(byte)'*'];

    public bool Equals(DnsName? other) => other is not null && (ReferenceEquals(this, other) || Key == other.Key);

    public override bool Equals(object? obj) => obj is DnsName n && Equals(n);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Key);

    /// <summary>DNSSEC canonical order (RFC 4034 §6.1): by labels from the right, each compared as lower-case bytes.</summary>
    public int CompareTo(DnsName? other)
    {
        if (other is null) return 1;
        int i = _labels.Length - 1, j = other._labels.Length - 1;
        for (; i >= 0 && j >= 0; i--, j--)
        {
            var a = _labels[i];
            var b = other._labels[j];
            int n = Math.Min(a.Length, b.Length);
            for (int k = 0; k < n; k++)
            {
                int x = Lower(a[k]), y = Lower(b[k]);
                if (x != y) return x - y;
            }
            if (a.Length != b.Length) return a.Length - b.Length;
        }
        return _labels.Length - other._labels.Length;
    }

    private static byte Lower(byte b) => b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b;

    public static bool operator ==(DnsName? a, DnsName? b) => a is null ? b is null : a.Equals(b);

    public static bool operator !=(DnsName? a, DnsName? b) => !(a == b);

    private string Render(bool lower, int[]? starts)
    {
        if (_labels.Length == 0)
        {
            if (starts is not null) starts[0] = 0;
            return ".";
        }
        var sb = new StringBuilder(WireLength + 8);
        for (int i = 0; i < _labels.Length; i++)
        {
            if (starts is not null) starts[i] = sb.Length;
            foreach (byte b in _labels[i]) AppendByte(sb, lower ? Lower(b) : b);
            sb.Append('.');
        }
        if (starts is not null) starts[_labels.Length] = sb.Length - 1;
        return sb.ToString();
    }

    private static void AppendByte(StringBuilder sb, byte b)
    {
        switch (b)
        {
            case (byte)'.' or (byte)'\\' or (byte)'"' or (byte)'(' or (byte)')' or (byte)';' or (byte)'@' or (byte)'$':
                sb.Append('\\').Append((char)b);
                break;
            case <= 0x20 or >= 0x7F:
                sb.Append('\\').Append(b.ToString("D3", CultureInfo.InvariantCulture));
                break;
            default:
                sb.Append((char)b);
                break;
        }
    }

    /// <summary>
    /// Parses a name in presentation form. A name without a trailing dot is relative to <paramref name="origin"/>
    /// (absolute if no origin is given); "@" is the origin itself.
    /// </summary>
    public static DnsName Parse(string text, DnsName? origin = null)
    {
        if (!TryParse(text, origin, out var name, out var error)) throw new FormatException($"'{text}' is not a domain name: {error}");
        return name;
    }

    public static bool TryParse(string text, DnsName? origin, out DnsName name, out string error)
    {
        name = Root;
        error = "";
        if (string.IsNullOrEmpty(text))
        {
            error = "it is empty";
            return false;
        }
        if (text == "@")
        {
            if (origin is null) { error = "'@' needs an origin"; return false; }
            name = origin;
            return true;
        }
        if (text == ".") return true;
        var labels = new List<byte[]>();
        var label = new List<byte>(16);
        bool absolute = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '.')
            {
                if (label.Count == 0) { error = "it has an empty label"; return false; }
                labels.Add([.. label]);
                label.Clear();
                if (i == text.Length - 1) absolute = true;
                continue;
            }
            if (c == '\\')
            {
                if (i + 1 >= text.Length) { error = "it ends with a backslash"; return false; }
                if (char.IsAsciiDigit(text[i + 1]))
                {
                    if (i + 3 >= text.Length || !char.IsAsciiDigit(text[i + 2]) || !char.IsAsciiDigit(text[i + 3]))
                    {
                        error = "a \\DDD escape needs three digits";
                        return false;
                    }
                    int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
                    if (v > 255) { error = "a \\DDD escape is over 255"; return false; }
                    label.Add((byte)v);
                    i += 3;
                }
                else
                {
                    char e = text[i + 1];
                    if (e > 0x7F) { error = "it has a non-ASCII character"; return false; }
                    label.Add((byte)e);
                    i += 1;
                }
                continue;
            }
            if (c > 0x7F || c <= 0x20) { error = c > 0x7F ? "it has a non-ASCII character (use punycode)" : "it has a blank or control character"; return false; }
            label.Add((byte)c);
        }
        if (label.Count > 0) labels.Add([.. label]);
        if (!absolute && origin is not null)
            for (int i = 0; i < origin.LabelCount; i++) labels.Add(origin._labels[i]);
        foreach (var l in labels)
            if (l.Length > MaxLabelLength) { error = $"a label is {l.Length} bytes; at most {MaxLabelLength} are allowed"; return false; }
        int wire = 1 + labels.Sum(l => l.Length + 1);
        if (wire > MaxWireLength) { error = $"it is {wire} bytes on the wire; at most {MaxWireLength} are allowed"; return false; }
        name = new DnsName(labels.ToArray(), validated: true);
        return true;
    }

    /// <summary>Writes the uncompressed wire form; returns the bytes written.</summary>
    public int WriteTo(Span<byte> destination, bool lowerCase = false)
    {
        int p = 0;
        foreach (var l in _labels)
        {
            destination[p++] = (byte)l.Length;
            l.CopyTo(destination[p..]);
            if (lowerCase)
                for (int k = 0; k < l.Length; k++) destination[p + k] = Lower(destination[p + k]);
            p += l.Length;
        }
        destination[p++] = 0;
        return p;
    }

    internal static DnsName FromValidatedLabels(byte[][] labels) => new(labels, validated: true);
}
