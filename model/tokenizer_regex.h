// PCRE2 regular expressions that behave like the Oniguruma ones Hugging Face `tokenizers`
// compiles for `Split` and `ByteLevel` pre-tokenizers, plus the Unicode character tests the
// added-token matcher needs.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace grpo::tok {

struct RegexCode;  // owns the compiled pcre2_code (kept out of this header)

class Regex {
 public:
  // Compiles `pattern` (UTF + UCP; `literal` for a `{"String": ...}` pattern). `where` names the
  // file and field for the error message when the pattern does not compile.
  Regex(const std::string& pattern, bool literal, const std::string& where);

  // Calls fn(start, end) (byte offsets) for each non-overlapping match, left to right. An empty
  // match is reported and the search resumes one character later, as Oniguruma's find_iter does.
  // `text` must be valid UTF-8.
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& fn) const;

 private:
  std::shared_ptr<const RegexCode> code_;
};

// Oniguruma's `\s` is the Unicode White_Space property, while PCRE2's UCP `\s` also matches
// U+180E; rewriting `\s`/`\S` (and `\w`/`\W`, `\d`/`\D`) to explicit properties makes the two
// engines split identically. Exposed for the unit tests.
std::string oniguruma_to_pcre2(const std::string& pattern);

// Rust `char::is_whitespace` (White_Space) and `char::is_alphanumeric` (Alphabetic or N*),
// used by the added-token flags lstrip / rstrip / single_word.
bool is_white_space(char32_t c);
bool is_alphanumeric(char32_t c);

}  // namespace grpo::tok
