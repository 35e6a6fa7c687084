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

/// <summary>Converts <see cref="JsonElement"/> to and from its surrogate. The element that arrives owns its memory
/// (no pooled document behind it), so a grain may keep it.</summary>
[RegisterConverter]
public sealed class JsonElementConverter : IConverter<JsonElement, JsonElementSurrogate>
{
    public JsonElement ConvertFromSurrogate(in JsonElementSurrogate surrogate) =>
        surrogate.Utf8 is null ? default : JsonSerializer.Deserialize(surrogate.Utf8, DtContractsJsonContext.Default.JsonElement);

    public JsonElementSurrogate ConvertToSurrogate(in JsonElement value) =>
        new(value.ValueKind == JsonValueKind.Undefined ? null : JsonSerializer.SerializeToUtf8Bytes(value, DtContractsJsonContext.Default.JsonElement));
}

[System.Text.Json.Serialization.JsonSerializable(typeof(JsonElement))]
internal sealed partial class DtContractsJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
