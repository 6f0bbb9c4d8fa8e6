#include "model/safetensors_format.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "common/error.h"

namespace grpo::safetensors {
namespace {

using nlohmann::json;

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  size_t bits;
};

constexpr std::array<DTypeEntry, 22> kDTypes{{
    {DType::BOOL, "BOOL", 8},
    {DType::F4, "F4", 4},
    {DType::F6_E2M3, "F6_E2M3", 6},
    {DType::F6_E3M2, "F6_E3M2", 6},
    {DType::U8, "U8", 8},
    {DType::I8, "I8", 8},
    {DType::F8_E5M2, "F8_E5M2", 8},
    {DType::F8_E4M3, "F8_E4M3", 8},
    {DType::F8_E8M0, "F8_E8M0", 8},
    {DType::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {DType::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {DType::I16, "I16", 16},
    {DType::U16, "U16", 16},
    {DType::F16, "F16", 16},
    {DType::BF16, "BF16", 16},
    {DType::I32, "I32", 32},
    {DType::U32, "U32", 32},
    {DType::F32, "F32", 32},
    {DType::C64, "C64", 64},
    {DType::F64, "F64", 64},
    {DType::I64, "I64", 64},
    {DType::U64, "U64", 64},
}};

// dtype_name() and dtype_bits() index the table by enum value.
constexpr bool table_follows_enum() {
  for (size_t i = 0; i < kDTypes.size(); ++i)
    if (static_cast<size_t>(kDTypes[i].dtype) != i) return false;
  return true;
}
static_assert(table_follows_enum(), "kDTypes must list the dtypes in enum order");

// Valid headers nest three levels deep; anything far deeper is hostile input, and refusing it
// keeps the parser's memory bounded.
constexpr int kMaxJsonDepth = 32;

std::string quote_name(std::string_view s) { return "\"" + std::string(s) + "\""; }

Error header_error(const std::string& file, const std::string& problem) { return file_error(file, "header", problem); }

Error tensor_error(const std::string& file, const std::string& tensor, const std::string& problem) {
  return file_error(file, "tensor " + quote_name(tensor), problem);
}

// a * b, or nullopt on u64 overflow.
std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Bytes for `numel` elements of `dtype`; nullopt on overflow; throws for a partial byte.
std::optional<uint64_t> byte_size(uint64_t numel, DType dtype, const std::string& file, const std::string& name) {
  auto bits = checked_mul(numel, dtype_bits(dtype));
  if (!bits) return std::nullopt;
  if (*bits % 8 != 0)
    throw tensor_error(file, name,
                       std::to_string(numel) + " elements of " + std::string(dtype_name(dtype)) +
                           " do not fill whole bytes; sub-byte dtypes need a multiple of 8 bits");
  return *bits / 8;
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A JSON value that must be a u64 (Python deserialises shapes and offsets as usize).
uint64_t expect_u64(const json& v, const std::string& file, const std::string& name, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  std::string got = v.is_number_integer() ? "negative integer " + v.dump() : v.dump();
  if (got.size() > 40) got = got.substr(0, 40) + "...";
  throw tensor_error(file, name, what + " must be a non-negative integer, got " + got);
}

TensorInfo parse_tensor(const std::string& name, const json& v, const std::string& file) {
  if (!v.is_object())
    throw tensor_error(file, name,
                       std::string("expected an object with dtype, shape, data_offsets, got ") + v.type_name());
  TensorInfo info;
  info.name = name;
  // Unknown extra keys are ignored, as Python does.
  auto dtype = v.find("dtype");
  if (dtype == v.end()) throw tensor_error(file, name, "missing field \"dtype\"");
  if (!dtype->is_string()) throw tensor_error(file, name, "\"dtype\" must be a string such as \"F32\"");
  auto parsed = dtype_from_name(dtype->get_ref<const std::string&>());
  if (!parsed)
    throw tensor_error(file, name, "unknown dtype " + dtype->dump() + "; expected one of " + all_dtype_names());
  info.dtype = *parsed;

  auto shape = v.find("shape");
  if (shape == v.end()) throw tensor_error(file, name, "missing field \"shape\"");
  if (!shape->is_array()) throw tensor_error(file, name, "\"shape\" must be an array of non-negative integers");
  for (const auto& d : *shape) info.shape.push_back(expect_u64(d, file, name, "each \"shape\" entry"));

  auto offsets = v.find("data_offsets");
  if (offsets == v.end()) throw tensor_error(file, name, "missing field \"data_offsets\"");
  if (!offsets->is_array() || offsets->size() != 2)
    throw tensor_error(file, name, "\"data_offsets\" must be an array [begin, end] of two integers");
  info.data_offsets = {expect_u64((*offsets)[0], file, name, "data_offsets begin"),
                       expect_u64((*offsets)[1], file, name, "data_offsets end")};
  return info;
}

// nlohmann quotes the offending bytes, which may be invalid UTF-8; error messages must stay
// printable text, so other bytes than printable ASCII become \xNN.
std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// Parses the JSON text, refusing duplicate keys at any level and absurd nesting.
json parse_json(std::string_view text, const std::string& file) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth)
      throw header_error(file, "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
          if (keys.size() == 1 && parsed.get<std::string>() != "__metadata__")
            throw tensor_error(file, parsed.get<std::string>(),
                               "name appears twice in the header; tensor names must be unique");
          throw header_error(file, "duplicate key " + parsed.dump() + " in an object");
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    throw header_error(file, "not valid JSON (" + printable(e.what()) + ")");
  }
}

// Appends `s` as a JSON string exactly as serde_json writes it: `"` and `\` escaped, the
// short escapes \b \f \n \r \t, other control characters as \u00xx (lowercase), and all
// other bytes (UTF-8) as they are.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Python strings are always valid UTF-8 and serde_json rejects anything else, so names and
// metadata must be too.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else
      return false;
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

}  // namespace

std::string_view dtype_name(DType dtype) { return kDTypes[static_cast<size_t>(dtype)].name; }

size_t dtype_bits(DType dtype) { return kDTypes[static_cast<size_t>(dtype)].bits; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kDTypes)
    if (e.name == name) return e.dtype;
  return std::nullopt;
}

std::string all_dtype_names() {
  std::string s;
  for (const auto& e : kDTypes) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

Header parse_header(const void* bytes, size_t size, uint64_t file_size, const std::string& file) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  if (file_size < 8 || size < 8)
    throw header_error(file, "file is " + std::to_string(file_size) +
                                 " bytes, too short for the 8-byte header length; it is truncated or not a "
                                 "safetensors file");
  Header h;
  for (int i = 7; i >= 0; --i) h.header_size = (h.header_size << 8) | p[i];  // little-endian u64
  if (h.header_size > kMaxHeaderSize)
    throw header_error(file, "header length " + std::to_string(h.header_size) + " exceeds the " +
                                 std::to_string(kMaxHeaderSize) +
                                 "-byte limit; the file is corrupt or not a safetensors file");
  h.data_start = 8 + h.header_size;
  if (h.data_start > file_size)
    throw header_error(file, "header length " + std::to_string(h.header_size) + " runs past the end of the " +
                                 std::to_string(file_size) + "-byte file; the file is truncated");
  GRPO_CHECK(h.data_start <= size, "parse_header needs the whole header in memory");

  std::string_view text(reinterpret_cast<const char*>(p + 8), h.header_size);
  // nlohmann's lexer treats NUL as end of input, which would accept trailing garbage.
  if (text.find('\0') != std::string_view::npos)
    throw header_error(file, "contains a NUL byte; the header must be JSON text padded with spaces");
  json root = parse_json(text, file);
  if (!root.is_object())
    throw header_error(file, std::string("must be a JSON object mapping tensor names to {dtype, shape, "
                                         "data_offsets}, got ") +
                                 root.type_name());

  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;  // Python accepts null as "no metadata"
      if (!value.is_object()) throw header_error(file, "\"__metadata__\" must be an object of string values");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          throw file_error(file, "__metadata__." + mk,
                           std::string("metadata values must be strings, got ") + mv.type_name());
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_tensor(key, value, file));
  }

  // Python sorts by (begin, end); the name breaks ties so the order never depends on the hash.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.data_offsets, a.name) < std::tie(b.data_offsets, b.name);
  });
  uint64_t expected_begin = 0;
  for (const auto& t : h.tensors) {
    auto [begin, end] = t.data_offsets;
    if (begin != expected_begin || end < begin)
      throw tensor_error(file, t.name,
                         "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                             "] must start at byte " + std::to_string(expected_begin) +
                             " and not end before they begin: tensors must tile the data section without "
                             "gaps or overlaps");
    expected_begin = end;
    std::optional<uint64_t> numel = 1;
    for (uint64_t d : t.shape)
      if (numel) numel = checked_mul(*numel, d);
    auto nbytes = numel ? byte_size(*numel, t.dtype, file, t.name) : std::nullopt;
    if (!nbytes) throw tensor_error(file, t.name, "shape " + shape_string(t.shape) + " overflows a 64-bit byte count");
    if (end - begin != *nbytes)
      throw tensor_error(file, t.name,
                         "shape " + shape_string(t.shape) + " of " + std::string(dtype_name(t.dtype)) + " needs " +
                             std::to_string(*nbytes) + " bytes but data_offsets [" + std::to_string(begin) + ", " +
                             std::to_string(end) + "] hold " + std::to_string(end - begin));
  }
  uint64_t data_size = file_size - h.data_start;
  if (expected_begin != data_size) {
    std::string last = h.tensors.empty() ? "" : " (last tensor " + quote_name(h.tensors.back().name) + ")";
    throw header_error(file, "tensors cover " + std::to_string(expected_begin) + " bytes of data" + last +
                                 " but the file holds " + std::to_string(data_size) + " bytes after the header; " +
                                 (expected_begin > data_size ? "the file is truncated" : "trailing bytes"));
  }
  return h;
}

Layout plan_layout(const std::vector<TensorSpec>& specs, const std::map<std::string, std::string>& metadata,
                   const std::string& file) {
  Layout layout;
  layout.order.resize(specs.size());
  std::iota(layout.order.begin(), layout.order.end(), size_t{0});
  std::set<std::string_view> names;
  for (const auto& s : specs) {
    if (s.name == "__metadata__")
      throw tensor_error(file, s.name, "this name is reserved for the metadata; rename the tensor");
    if (!valid_utf8(s.name)) throw tensor_error(file, s.name, "name is not valid UTF-8");
    if (!names.insert(s.name).second) throw tensor_error(file, s.name, "name given twice; names must be unique");
    std::optional<uint64_t> numel = 1;
    for (uint64_t d : s.shape)
      if (numel) numel = checked_mul(*numel, d);
    auto nbytes = numel ? byte_size(*numel, s.dtype, file, s.name) : std::nullopt;
    if (!nbytes || *nbytes != s.nbytes)
      throw tensor_error(file, s.name,
                         "byte size " + std::to_string(s.nbytes) + " does not match shape " + shape_string(s.shape) +
                             " of " + std::string(dtype_name(s.dtype)));
  }
  for (const auto& [k, v] : metadata)
    if (!valid_utf8(k) || !valid_utf8(v)) throw file_error(file, "__metadata__." + k, "not valid UTF-8");

  // Descending dtype (so wider elements come first and stay aligned), then name: Python's order.
  std::sort(layout.order.begin(), layout.order.end(), [&](size_t a, size_t b) {
    if (specs[a].dtype != specs[b].dtype) return specs[a].dtype > specs[b].dtype;
    return specs[a].name < specs[b].name;  // byte-wise, as Rust compares Strings
  });

  std::string text = "{";
  if (!metadata.empty()) {
    text += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) text += ',';
      first = false;
      append_json_string(text, k);
      text += ':';
      append_json_string(text, v);
    }
    text += '}';
  }
  layout.offsets.resize(specs.size());
  uint64_t offset = 0;
  for (size_t i : layout.order) {
    const auto& s = specs[i];
    if (text.size() > 1) text += ',';
    append_json_string(text, s.name);
    text += ":{\"dtype\":\"" + std::string(dtype_name(s.dtype)) + "\",\"shape\":[";
    for (size_t d = 0; d < s.shape.size(); ++d) text += (d ? "," : "") + std::to_string(s.shape[d]);
    text += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + s.nbytes) + "]}";
    layout.offsets[i] = {offset, offset + s.nbytes};
    offset += s.nbytes;
  }
  text += '}';
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as Python pads
  if (text.size() > kMaxHeaderSize)
    throw header_error(file, "header would be " + std::to_string(text.size()) + " bytes, over the " +
                                 std::to_string(kMaxHeaderSize) + "-byte limit readers enforce; use more shards");
  uint64_t n = text.size();
  layout.header.resize(8);
  for (int i = 0; i < 8; ++i) layout.header[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  layout.header += text;
  layout.data_size = offset;
  return layout;
}

}  // namespace grpo::safetensors
