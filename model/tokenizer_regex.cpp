#include "model/tokenizer_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/error.h"
#include "model/tokenizer_bytes.h"

namespace grpo::tok {

struct RegexCode {
  pcre2_code* code = nullptr;
  ~RegexCode() { pcre2_code_free(code); }
};

namespace {

// Frees the match data block when a search ends (also on exceptions from the callback).
struct MatchData {
  pcre2_match_data* data;
  explicit MatchData(const pcre2_code* code) : data(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data); }
};

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

bool matches_char(const Regex& re, char32_t c) {
  std::string s;
  append_utf8(s, c);
  bool hit = false;
  re.for_each_match(s, [&](size_t start, size_t end) { hit = hit || (start == 0 && end == s.size()); });
  return hit;
}

}  // namespace

std::string oniguruma_to_pcre2(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      switch (e) {
        case 's':
          out += "\\p{White_Space}";
          break;
        case 'S':
          out += "\\P{White_Space}";
          break;
        case 'd':
          out += "\\p{Nd}";
          break;
        case 'D':
          out += "\\P{Nd}";
          break;
        // Oniguruma's Unicode \w is Letter | Mark | Decimal_Number | Connector_Punctuation.
        case 'w':
          out += in_class ? "\\p{L}\\p{M}\\p{Nd}\\p{Pc}" : "[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]";
          break;
        case 'W':
          // A negated set cannot be spliced into a class; keep PCRE2's own \W there.
          out += in_class ? "\\W" : "[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}]";
          break;
        default:
          out += c;
          out += e;
          break;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

Regex::Regex(const std::string& pattern, bool literal, const std::string& where) {
  const std::string translated = literal ? pattern : oniguruma_to_pcre2(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);  // LITERAL forbids UCP
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), options, &error,
                                   &offset, nullptr);
  if (!code)
    throw Error(where + ": the regex does not compile (" + pcre2_message(error) + " at offset " +
                std::to_string(offset) + "); expected a pattern Oniguruma and PCRE2 both accept");
  // JIT makes matching several times faster; when it is unavailable the interpreter is used.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  auto owned = std::make_shared<RegexCode>();
  owned->code = code;
  code_ = std::move(owned);
}

void Regex::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& fn) const {
  MatchData md(code_->code);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    // The text was validated (or repaired) once by the caller; skip PCRE2's per-call check.
    int rc = pcre2_match(code_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md.data, nullptr);
    // The JIT's default 32 KiB stack can run out on a very long piece; the interpreter cannot.
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(code_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md.data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) throw Error("tokenizer regex: matching failed (" + pcre2_message(rc) + ")");
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.data);
    fn(ov[0], ov[1]);
    if (ov[1] > ov[0]) {
      start = ov[1];
    } else {
      if (ov[1] >= text.size()) return;
      size_t next = ov[1];
      next_utf8(text, next);
      start = next;
    }
  }
}

bool is_white_space(char32_t c) {
  static const Regex re("\\p{White_Space}", false, "is_white_space");
  if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
  return matches_char(re, c);
}

bool is_alphanumeric(char32_t c) {
  static const Regex re("[\\p{Alphabetic}\\p{N}]", false, "is_alphanumeric");
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return matches_char(re, c);
}

}  // namespace grpo::tok
