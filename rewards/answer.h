// Answer extraction and math equivalence for reward scripts (exposed to Lua as `grpo.*`,
// helper_lib.cpp). Plain C++ on string_views: no Lua, testable on its own.
// Conventions follow the Hendrycks MATH grader and GSM8K (spec/runtime.md §2.5); there is no
// symbolic algebra: numbers compare exactly as rationals, everything else as normalised text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace grpo::rewards {

// The contents of the last \boxed{...} (nested braces matched; \{ and \} are literal) or of
// `\boxed 5` (up to the next space or `$`). nullopt when there is none or the last one is
// unterminated (a truncated completion).
std::optional<std::string> last_boxed(std::string_view text);

// The text after the last `####` up to the end of that line, trimmed (GSM8K answers).
std::optional<std::string> after_hashes(std::string_view text);

// The last number written in the text ("-1,000.5", "3e-4", ".5"), as written.
std::optional<std::string> last_number(std::string_view text);

// The text after the last `</think>`, or nullopt when there is none.
std::optional<std::string> after_think(std::string_view text);

// True when the text is `<think> reasoning </think> answer`: it starts (after whitespace)
// with the only <think>, has exactly one </think> after it, and a non-empty answer follows.
bool think_format(std::string_view text);

// A number parsed from an answer. Exact when it was written as an integer, a terminating
// decimal (also with an exponent) or a fraction and fits 64-bit numerator/denominator.
struct Number {
  bool exact = false;
  int64_t num = 0;  // exact value num/den, den > 0, reduced
  int64_t den = 1;
  double value = 0;      // always set
  bool percent = false;  // written with % (the value is the number before the sign)
};

// Parses an answer as a number: commas as thousands separators ("1,000"), signs, decimals,
// scientific notation ("1e3", "1.5\times 10^{3}"), fractions ("3/4", "\frac{3}{4}", "\dfrac34",
// "-\frac{1}{2}"), percents ("50%", "50\%"), and wrappers ($...$, \(...\), \left( ... \right),
// \text{...} units after the number, trailing punctuation). nullopt when it is not a number.
std::optional<Number> parse_number(std::string_view text);

// Canonical text of a number: "1/2", "-3", "1000"; inexact values as %.17g.
std::string number_text(const Number& n);

// Normalised form of a non-numeric answer: spaces, $, \left/\right, \! \, \; and a trailing
// period dropped, \dfrac/\tfrac written \frac.
std::string normalize_answer_text(std::string_view text);

// Answers equal as numbers (exact rationals when both are exact, else relative 1e-9; a
// percent may also equal its value / 100), or as normalised text when either is not a number.
bool math_equal(std::string_view a, std::string_view b);

}  // namespace grpo::rewards
