using System.Runtime.InteropServices;
using System.Text.Json;
using Orleans;

namespace Dt;

/// <summary>How a <see cref="JsonElement"/> crosses an Orleans call: its UTF-8 JSON text (null for an undefined
/// element). Orleans has no codec for <see cref="JsonElement"/> of its own.</summary>
[GenerateSerializer, Immutable]
public readonly struct JsonElementSurrogate(byte[]? utf8)
{
    [Id(0)] public readonly byte[]? Utf8 = utf8;
}

/// <summary>Converts <see cref="JsonElement"/> to and from its surrogate: the element's raw UTF-8 text is copied
/// out as it stands (no re-serialization), and the element that arrives is parsed in place over the array that
/// arrived, which only it refers to, so a grain may keep it (measured: a copy per element made the grain path of
/// batch adds slower than HTTP). Its document is never disposed; the metadata it rented is left to the GC.</summary>
[RegisterConverter]
public sealed class JsonElementConverter : IConverter<JsonElement, JsonElementSurrogate>
{
    public JsonElement ConvertFromSurrogate(in JsonElementSurrogate surrogate)
    {
        if (surrogate.Utf8 is null) return default;
        return JsonDocument.Parse(surrogate.Utf8).RootElement;
    }

    public JsonElementSurrogate ConvertToSurrogate(in JsonElement value) =>
        new(value.ValueKind == JsonValueKind.Undefined ? null : JsonMarshal.GetRawUtf8Value(value).ToArray());
}
