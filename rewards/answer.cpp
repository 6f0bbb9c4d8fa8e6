#include "rewards/answer.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>

namespace grpo::rewards {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// One pass into a new string: replacing in place moves the tail once per match, which is
// quadratic on a long completion full of matches.
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  size_t pos = s.find(from);
  if (from.empty() || pos == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  size_t last = 0;
  for (; pos != std::string::npos; pos = s.find(from, last)) {
    out.append(s, last, pos - last);
    out.append(to);
    last = pos + from.size();
  }
  out.append(s, last, std::string::npos);
  s.swap(out);
}

// Index just past the brace group opening at `open` (s[open] == '{'), or npos if unbalanced.
// \{ and \} are literal braces, not grouping.
size_t match_brace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t j = open; j < s.size(); ++j) {
    if (s[j] == '\\' && j + 1 < s.size() && (s[j + 1] == '{' || s[j + 1] == '}')) {
      ++j;
      continue;
    }
    if (s[j] == '{') ++depth;
    if (s[j] == '}' && --depth == 0) return j + 1;
  }
  return std::string_view::npos;
}

// Exact arithmetic runs in 128 bits; results must come back to 64 bits to stay exact.
using i128 = __int128;
constexpr i128 kExactBound = static_cast<i128>(1) << 100;

struct Rat {
  bool exact = true;
  i128 num = 0, den = 1;
  double value = 0;
};

i128 abs128(i128 x) { return x < 0 ? -x : x; }
i128 gcd128(i128 a, i128 b) {
  a = abs128(a);
  b = abs128(b);
  while (b != 0) {
    i128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

void reduce(Rat& r) {
  if (!r.exact) return;
  if (r.den < 0) {
    r.num = -r.num;
    r.den = -r.den;
  }
  i128 g = gcd128(r.num, r.den);
  if (g > 1) {
    r.num /= g;
    r.den /= g;
  }
  const i128 lim = static_cast<i128>(INT64_MAX);
  if (abs128(r.num) > lim || r.den > lim) r.exact = false;
}

// Multiplies by 10^k (k may be negative), staying exact while the parts stay small.
void scale_pow10(Rat& r, int k) {
  r.value *= std::pow(10.0, k);
  if (!r.exact) return;
  if (k > 38 || k < -38) {
    r.exact = false;
    return;
  }
  for (int i = 0; i < (k < 0 ? -k : k); ++i) {
    i128& part = k > 0 ? r.num : r.den;
    if (abs128(part) > kExactBound) {
      r.exact = false;
      return;
    }
    part *= 10;
  }
  reduce(r);
}

// A decimal: [sign] digits[,ddd...][.digits] | [sign] .digits, then an optional exponent
// (e±k, \times10^{k}, \cdot10^k, *10^k). The whole string must be consumed.
std::optional<Rat> parse_decimal(std::string_view s) {
  Rat r;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  size_t i = 0, int_digits = 0, frac_digits = 0;
  std::string plain;  // digits without separators, for strtod
  auto take_digit = [&](char c) {
    if (r.exact) {
      if (r.num > kExactBound) r.exact = false;
      r.num = r.num * 10 + (c - '0');
    }
    plain += c;
  };
  while (i < s.size() && is_digit(s[i])) take_digit(s[i++]), ++int_digits;
  // Thousands separators only in groups of three after 1-3 leading digits ("1,000").
  if (i < s.size() && s[i] == ',') {
    if (int_digits == 0 || int_digits > 3) return std::nullopt;
    while (i < s.size() && s[i] == ',') {
      if (i + 4 > s.size() || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3])) return std::nullopt;
      if (i + 4 < s.size() && is_digit(s[i + 4])) return std::nullopt;
      for (int d = 1; d <= 3; ++d) take_digit(s[i + d]);
      i += 4;
    }
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    plain += '.';
    while (i < s.size() && is_digit(s[i])) {
      take_digit(s[i++]);
      ++frac_digits;
      if (r.exact) r.den *= 10;
      if (r.den > kExactBound) r.exact = false;
    }
  }
  if (int_digits + frac_digits == 0) return std::nullopt;
  r.value = std::strtod(plain.c_str(), nullptr);
  if (neg) {
    r.num = -r.num;
    r.value = -r.value;
  }
  reduce(r);
  std::string_view rest = s.substr(i);
  if (rest.empty()) return r;
  std::string_view exp;
  if (rest[0] == 'e' || rest[0] == 'E') {
    exp = rest.substr(1);
  } else {
    for (std::string_view times : {"\\times10^", "\\cdot10^", "*10^", "\\times{10}^"}) {
      if (starts_with(rest, times)) {
        exp = rest.substr(times.size());
        break;
      }
    }
    if (exp.empty()) return std::nullopt;
    if (!exp.empty() && exp.front() == '{') {
      if (exp.back() != '}') return std::nullopt;
      exp = exp.substr(1, exp.size() - 2);
    }
  }
  bool eneg = false;
  if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) {
    eneg = exp[0] == '-';
    exp.remove_prefix(1);
  }
  if (exp.empty() || exp.size() > 4) return std::nullopt;
  int k = 0;
  for (char c : exp) {
    if (!is_digit(c)) return std::nullopt;
    k = k * 10 + (c - '0');
  }
  scale_pow10(r, eneg ? -k : k);
  return r;
}

std::optional<Rat> divide(const Rat& a, const Rat& b) {
  if (b.value == 0 && (!b.exact || b.num == 0)) return std::nullopt;
  Rat r;
  r.value = a.value / b.value;
  r.exact = a.exact && b.exact;
  if (r.exact) {
    // |parts| < 2^63 after reduce(), so the products fit in 128 bits.
    r.num = a.num * b.den;
    r.den = a.den * b.num;
    reduce(r);
  }
  return r;
}

// One operand of a fraction: a braced group or, as TeX reads `\frac12`, a single character.
bool take_frac_arg(std::string_view& s, std::string_view* arg) {
  if (s.empty()) return false;
  if (s[0] == '{') {
    size_t end = match_brace(s, 0);
    if (end == std::string_view::npos) return false;
    *arg = s.substr(1, end - 2);
    s.remove_prefix(end);
    return true;
  }
  *arg = s.substr(0, 1);
  s.remove_prefix(1);
  return true;
}

std::optional<Rat> parse_value(std::string_view s, int depth);

std::optional<Rat> parse_frac(std::string_view s, int depth) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (!starts_with(s, "\\frac")) return std::nullopt;
  s.remove_prefix(5);
  std::string_view a, b;
  if (!take_frac_arg(s, &a) || !take_frac_arg(s, &b) || !s.empty()) return std::nullopt;
  auto ra = parse_value(a, depth + 1), rb = parse_value(b, depth + 1);
  if (!ra || !rb) return std::nullopt;
  auto r = divide(*ra, *rb);
  if (r && neg) {
    r->num = -r->num;
    r->value = -r->value;
  }
  return r;
}

std::optional<Rat> parse_value(std::string_view s, int depth) {
  if (depth > 4 || s.empty()) return std::nullopt;
  // Redundant grouping: (x), {x}.
  while (s.size() >= 2 && ((s.front() == '(' && s.back() == ')') || (s.front() == '{' && s.back() == '}'))) {
    if (s.front() == '{' && match_brace(s, 0) != s.size()) break;
    s = s.substr(1, s.size() - 2);
  }
  if (auto r = parse_decimal(s)) return r;
  if (auto r = parse_frac(s, depth)) return r;
  // a/b with plain operands.
  size_t slash = s.find('/');
  if (slash != std::string_view::npos && s.find('/', slash + 1) == std::string_view::npos) {
    auto a = parse_decimal(s.substr(0, slash)), b = parse_decimal(s.substr(slash + 1));
    if (a && b) return divide(*a, *b);
  }
  return std::nullopt;
}

// Drops a trailing \text{...} / \mbox{...} / \mathrm{...} (units) and unwraps one that
// holds the whole answer.
void drop_text_units(std::string& s) {
  for (std::string_view cmd : {"\\text{", "\\mbox{", "\\mathrm{", "\\textbf{"}) {
    size_t pos = s.find(cmd);
    if (pos == std::string::npos) continue;
    size_t end = match_brace(s, pos + cmd.size() - 1);
    if (end != s.size()) continue;
    if (pos == 0)
      s = s.substr(cmd.size(), end - cmd.size() - 1);
    else
      s.erase(pos);
  }
}

std::string strip_wrappers(std::string_view text) {
  std::string s(trim(text));
  for (int round = 0; round < 4; ++round) {
    std::string_view v = trim(s);
    while (!v.empty() && (v.back() == '.' || v.back() == ',' || v.back() == ';' || v.back() == ':' || v.back() == '!' ||
                          v.back() == '?'))
      v = trim(v.substr(0, v.size() - 1));
    if (v.size() >= 4 && starts_with(v, "$$") && ends_with(v, "$$"))
      v = v.substr(2, v.size() - 4);
    else if (v.size() >= 2 && v.front() == '$' && v.back() == '$')
      v = v.substr(1, v.size() - 2);
    else if (v.size() >= 4 && (starts_with(v, "\\(") && ends_with(v, "\\)")))
      v = v.substr(2, v.size() - 4);
    else if (v.size() >= 4 && (starts_with(v, "\\[") && ends_with(v, "\\]")))
      v = v.substr(2, v.size() - 4);
    s = std::string(trim(v));
  }
  return s;
}

}  // namespace

std::optional<std::string> last_boxed(std::string_view text) {
  size_t pos = std::string_view::npos, len = 0;
  for (std::string_view cmd : {"\\boxed", "\\fbox"}) {
    size_t p = text.rfind(cmd);
    if (p != std::string_view::npos && (pos == std::string_view::npos || p > pos)) {
      pos = p;
      len = cmd.size();
    }
  }
  if (pos == std::string_view::npos) return std::nullopt;
  size_t i = pos + len;
  if (i < text.size() && text[i] == '{') {
    size_t end = match_brace(text, i);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(text.substr(i + 1, end - i - 2));
  }
  if (i < text.size() && is_space(text[i])) {  // `\boxed 5`: up to the next space or `$`
    while (i < text.size() && is_space(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !is_space(text[j]) && text[j] != '$') ++j;
    if (j == i) return std::nullopt;
    return std::string(text.substr(i, j - i));
  }
  if (i < text.size() && is_alnum(text[i])) return std::string(text.substr(i, 1));  // TeX: `\boxed5`
  return std::nullopt;
}

std::optional<std::string> after_hashes(std::string_view text) {
  size_t pos = text.rfind("####");
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(pos + 4);
  rest = rest.substr(0, rest.find('\n'));
  rest = trim(rest);
  if (rest.empty()) return std::nullopt;
  return std::string(rest);
}

std::optional<std::string> last_number(std::string_view text) {
  std::optional<std::string> last;
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const bool starts = is_digit(text[i]) || (text[i] == '.' && i + 1 < n && is_digit(text[i + 1]));
    if (!starts) {
      ++i;
      continue;
    }
    size_t start = i;
    // A sign belongs to the number unless it joins two terms ("3-4" is not "-4").
    if (i > 0 && (text[i - 1] == '-' || text[i - 1] == '+') && (i == 1 || !is_alnum(text[i - 2]))) start = i - 1;
    size_t j = i;
    while (j < n && is_digit(text[j])) ++j;
    while (j + 3 < n && text[j] == ',' && is_digit(text[j + 1]) && is_digit(text[j + 2]) && is_digit(text[j + 3]) &&
           (j + 4 >= n || !is_digit(text[j + 4])))
      j += 4;
    if (j + 1 < n && text[j] == '.' && is_digit(text[j + 1])) {
      ++j;
      while (j < n && is_digit(text[j])) ++j;
    }
    if (j + 1 < n && (text[j] == 'e' || text[j] == 'E')) {
      size_t k = j + 1;
      if (k < n && (text[k] == '-' || text[k] == '+')) ++k;
      if (k < n && is_digit(text[k])) {
        while (k < n && is_digit(text[k])) ++k;
        if (k >= n || !is_alnum(text[k])) j = k;  // not the start of a word ("3eggs")
      }
    }
    last = std::string(text.substr(start, j - start));
    i = j;
  }
  return last;
}

std::optional<std::string> after_think(std::string_view text) {
  size_t pos = text.rfind("</think>");
  if (pos == std::string_view::npos) return std::nullopt;
  return std::string(text.substr(pos + 8));
}

bool think_format(std::string_view text) {
  std::string_view t = trim(text);
  if (!starts_with(t, "<think>")) return false;
  if (t.find("<think>", 7) != std::string_view::npos) return false;
  size_t close = t.find("</think>", 7);
  if (close == std::string_view::npos) return false;
  if (t.find("</think>", close + 8) != std::string_view::npos) return false;
  return !trim(t.substr(close + 8)).empty();
}

std::optional<Number> parse_number(std::string_view text) {
  if (text.size() > 512) return std::nullopt;  // answers are short; bound the work on junk
  std::string s = strip_wrappers(text);
  for (std::string_view junk :
       {"\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "{,}", "\\$", "^\\circ", "^{\\circ}", "\\displaystyle"})
    replace_all(s, junk, "");
  replace_all(s, "\\dfrac", "\\frac");
  replace_all(s, "\\tfrac", "\\frac");
  replace_all(s, "\\%", "%");
  drop_text_units(s);
  std::string compact;
  for (char c : s)
    if (!is_space(c) && c != '$') compact += c;
  Number out;
  if (!compact.empty() && compact.back() == '%') {
    out.percent = true;
    compact.pop_back();
  }
  auto r = parse_value(compact, 0);
  if (!r) return std::nullopt;
  out.exact = r->exact;
  out.value = r->exact ? static_cast<double>(r->num) / static_cast<double>(r->den) : r->value;
  if (out.exact) {
    out.num = static_cast<int64_t>(r->num);
    out.den = static_cast<int64_t>(r->den);
  }
  if (out.exact && out.num == 0) out.value = 0.0;  // "-0" is 0
  if (!std::isfinite(out.value)) return std::nullopt;
  return out;
}

std::string number_text(const Number& n) {
  if (n.exact) return n.den == 1 ? std::to_string(n.num) : std::to_string(n.num) + "/" + std::to_string(n.den);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", n.value);
  return buf;
}

std::string normalize_answer_text(std::string_view text) {
  std::string s = strip_wrappers(text);
  for (std::string_view junk : {"\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "\\displaystyle"})
    replace_all(s, junk, "");
  replace_all(s, "\\dfrac", "\\frac");
  replace_all(s, "\\tfrac", "\\frac");
  drop_text_units(s);
  std::string out;
  for (char c : s)
    if (!is_space(c) && c != '$') out += c;
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

namespace {

bool same_value(const Number& a, const Number& b) {
  if (a.exact && b.exact) return a.num == b.num && a.den == b.den;
  double scale = std::max(std::fabs(a.value), std::fabs(b.value));
  // Inexact only past 64-bit rationals: a relative 1e-9 absorbs the double rounding there.
  return std::fabs(a.value - b.value) <= 1e-9 * scale;
}

Number percent_value(const Number& n) {
  Number p = n;
  p.percent = false;
  p.value = n.value / 100.0;
  if (n.exact) {
    Rat r{true, n.num, static_cast<i128>(n.den) * 100, p.value};
    reduce(r);
    p.exact = r.exact;
    p.num = static_cast<int64_t>(r.num);
    p.den = static_cast<int64_t>(r.den);
  }
  return p;
}

}  // namespace

bool math_equal(std::string_view a, std::string_view b) {
  auto na = parse_number(a), nb = parse_number(b);
  if (na && nb) {
    if (same_value(*na, *nb)) return true;
    if (na->percent && same_value(percent_value(*na), *nb)) return true;
    if (nb->percent && same_value(*na, percent_value(*nb))) return true;
    return false;
  }
  if (na || nb) return false;
  std::string ta = normalize_answer_text(a), tb = normalize_answer_text(b);
  return !ta.empty() && ta == tb;
}

}  // namespace grpo::rewards
