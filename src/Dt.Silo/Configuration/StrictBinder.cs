using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;

namespace Dt.Silo.Configuration;

/// <summary>
/// Binds a configuration section onto an options object and reports every problem instead of the first: a key that
/// is no setting (a typo would otherwise be ignored silently), and each value that does not convert, named by its
/// full path ("Dt:Port 'abc' is not a whole number").
/// </summary>
internal static class StrictBinder
{
    public static void Bind(IConfigurationSection section, object target, List<string> errors) => Bind(section, target, errors, section.Key);

    /// <summary>As <see cref="Bind(IConfigurationSection, object, List{string})"/>, leaving alone the subsections named
    /// in <paramref name="subsections"/> (bound onto their own objects, like Dt:Gossip).</summary>
    public static void Bind(IConfigurationSection section, object target, List<string> errors, IReadOnlyCollection<string> subsections) =>
        Bind(section, target, errors, section.Key, subsections);

    private static void Bind(IConfigurationSection section, object target, List<string> errors, string label, IReadOnlyCollection<string>? subsections = null)
    {
        var properties = target.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite || p.PropertyType == typeof(List<string>))
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var child in section.GetChildren())
        {
            if (subsections is not null && subsections.Contains(child.Key, StringComparer.OrdinalIgnoreCase)) continue;
            if (!properties.TryGetValue(child.Key, out var p))
            {
                errors.Add($"{child.Path} is not a setting (known {label} settings: {string.Join(", ", properties.Keys.Order(StringComparer.Ordinal))}).");
                continue;
            }
            if (p.PropertyType == typeof(List<string>))
                BindList(child, (List<string>)p.GetValue(target)!, errors);
            else if (ObjectListItem(p.PropertyType) is { } itemType)
                BindObjectList(child, (IList)p.GetValue(target)!, itemType, errors);
            else if (child.Value is null)
                errors.Add($"{child.Path} must be a single value, not a section.");
            else if (TryConvert(child.Value, p.PropertyType, out var value))
                p.SetValue(target, value);
            else
                errors.Add($"{child.Path} '{child.Value}' is not {Describe(p.PropertyType)}.");
        }
    }

    private static void BindList(IConfigurationSection section, List<string> list, List<string> errors)
    {
        list.Clear();
        if (section.Value is { } single)
        {
            // A list given as one value (an environment variable, say) may be comma-separated.
            list.AddRange(single.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            return;
        }
        foreach (var item in section.GetChildren().OrderBy(c => int.TryParse(c.Key, out int i) ? i : int.MaxValue))
        {
            if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                errors.Add($"{item.Path}: list items are numbered ({section.Path}:0, {section.Path}:1, ...).");
            else if (item.Value is null)
                errors.Add($"{item.Path} must be a single value.");
            else
                list.Add(item.Value);
        }
    }

    /// <summary>The item type of a List&lt;T&gt; of settings objects (Dns:TsigKeys:0:Name, ...), else null.</summary>
    private static Type? ObjectListItem(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) && type.GetGenericArguments()[0] is { IsClass: true } item
        && item != typeof(string) && item.GetConstructor(Type.EmptyTypes) is not null
            ? item
            : null;

    private static void BindObjectList(IConfigurationSection section, IList list, Type itemType, List<string> errors)
    {
        list.Clear();
        if (section.Value is not null)
        {
            errors.Add($"{section.Path} must be a list of sections ({section.Path}:0:Setting=..., {section.Path}:1:Setting=...).");
            return;
        }
        foreach (var item in section.GetChildren().OrderBy(c => int.TryParse(c.Key, out int i) ? i : int.MaxValue))
        {
            if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                errors.Add($"{item.Path}: list items are numbered ({section.Path}:0, {section.Path}:1, ...).");
            else if (item.Value is not null)
                errors.Add($"{item.Path} must be a section of settings ({item.Path}:Setting=...), not a single value.");
            else
            {
                var value = Activator.CreateInstance(itemType)!;
                Bind(item, value, errors, $"{section.Path}:N");
                list.Add(value);
            }
        }
    }

    private static bool TryConvert(string text, Type type, out object? value)
    {
        value = null;
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string))
        {
            value = text.Length == 0 && type == typeof(string) ? null : text;
            return true;
        }
        if (text.Length == 0 && target != type) return true;
        try
        {
            value = TypeDescriptor.GetConverter(target).ConvertFromInvariantString(text.Trim());
            return value is not null;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or OverflowException
                                      || e.InnerException is FormatException or OverflowException)
        {
            return false;
        }
    }

    private static string Describe(Type type) => (Nullable.GetUnderlyingType(type) ?? type) switch
    {
        var t when t == typeof(bool) => "true or false",
        var t when t == typeof(int) => "a whole number (32-bit)",
        var t when t == typeof(uint) => "a whole number, 0 or more (32-bit)",
        var t when t == typeof(long) => "a whole number",
        var t when t == typeof(TimeSpan) => "a duration written as [d.]hh:mm:ss[.fff] (e.g. 00:00:00.2 for 200 ms)",
        var t when t.IsEnum => "one of " + string.Join(", ", Enum.GetNames(t)),
        var t => $"a valid {t.Name}",
    };
}
