// Byte-level BPE plumbing: GPT-2's byte <-> printable-character map, and the UTF-8 handling
// that Hugging Face `tokenizers` applies at the edges (lossy decode with U+FFFD).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace grpo::tok {

// GPT-2 `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order, so every byte has a visible character and a vocab is JSON text.
char32_t byte_to_char(uint8_t byte);
// The inverse; nullopt for characters outside the 256 of the map.
std::optional<uint8_t> char_to_byte(char32_t c);

// Raw bytes -> byte-level string (each byte becomes its mapped character, UTF-8 encoded).
std::string bytes_to_byte_level(std::string_view bytes);
// Byte-level string -> raw bytes; nullopt if any character is not in the map (e.g. a special
// token such as "<｜begin▁of▁sentence｜>", whose "｜" is not a byte-level character).
std::optional<std::string> byte_level_to_bytes(std::string_view text);

// Appends the UTF-8 encoding of `c`.
void append_utf8(std::string& out, char32_t c);
// Decodes the character at text[pos] of valid UTF-8, advancing pos.
char32_t next_utf8(std::string_view text, size_t& pos);

// Replaces every ill-formed subsequence by U+FFFD using the Unicode "maximal subpart"
// practice, which is what Rust's String::from_utf8_lossy (the `tokenizers` decoder) and
// Python's bytes.decode("utf-8", "replace") both do. Valid input is returned unchanged.
std::string utf8_lossy(std::string_view bytes);
// True if `bytes` is well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

}  // namespace grpo::tok
