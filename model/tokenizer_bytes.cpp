#include "model/tokenizer_bytes.h"

#include <array>

namespace grpo::tok {
namespace {

struct ByteMap {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 324> to_byte{};  // every mapped character is < U+0144
  ByteMap() {
    to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_char[b] = printable ? char32_t(b) : next++;
      to_byte[to_char[b]] = int16_t(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

// Length of the well-formed prefix of the sequence starting at bytes[i] (0 = ill-formed lead),
// and the full length it claims. Follows Unicode Table 3-7 (well-formed byte sequences).
struct Utf8Step {
  size_t valid = 0;    // bytes of a complete, well-formed character (0 if none)
  size_t subpart = 1;  // bytes to replace by one U+FFFD when not valid (the maximal subpart)
};

Utf8Step utf8_step(std::string_view s, size_t i) {
  const auto at = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = at(i);
  if (b0 < 0x80) return {1, 1};
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF)
    need = 2;
  else if (b0 == 0xE0)
    need = 3, lo = 0xA0;
  else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF)
    need = 3;
  else if (b0 == 0xED)
    need = 3, hi = 0x9F;  // excludes surrogates
  else if (b0 == 0xF0)
    need = 4, lo = 0x90;
  else if (b0 >= 0xF1 && b0 <= 0xF3)
    need = 4;
  else if (b0 == 0xF4)
    need = 4, hi = 0x8F;  // excludes > U+10FFFF
  else
    return {0, 1};
  size_t k = 1;
  for (; k < need; ++k) {
    if (i + k >= s.size()) return {0, k};
    const uint8_t b = at(i + k);
    const bool ok = (k == 1) ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return {0, k};
  }
  return {need, need};
}

}  // namespace

char32_t byte_to_char(uint8_t byte) { return byte_map().to_char[byte]; }

std::optional<uint8_t> char_to_byte(char32_t c) {
  if (c >= byte_map().to_byte.size() || byte_map().to_byte[c] < 0) return std::nullopt;
  return static_cast<uint8_t>(byte_map().to_byte[c]);
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) append_utf8(out, byte_to_char(b));
  return out;
}

std::optional<std::string> byte_level_to_bytes(std::string_view text) {
  if (!is_valid_utf8(text)) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    auto b = char_to_byte(next_utf8(text, pos));
    if (!b) return std::nullopt;
    out.push_back(static_cast<char>(*b));
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

char32_t next_utf8(std::string_view text, size_t& pos) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  size_t len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
  char32_t c = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t k = 1; k < len && pos + k < text.size(); ++k) c = (c << 6) | (static_cast<uint8_t>(text[pos + k]) & 0x3F);
  pos += len;
  return c;
}

std::string utf8_lossy(std::string_view bytes) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 8);
  for (size_t i = 0; i < bytes.size();) {
    const Utf8Step step = utf8_step(bytes, i);
    if (step.valid) {
      out.append(bytes.substr(i, step.valid));
      i += step.valid;
    } else {
      append_utf8(out, U'\uFFFD');
      i += step.subpart;
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const Utf8Step step = utf8_step(bytes, i);
    if (!step.valid) return false;
    i += step.valid;
  }
  return true;
}

}  // namespace grpo::tok
