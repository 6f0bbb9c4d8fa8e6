#include "model/tokenizer_pretokenizer.h"

#include <algorithm>

#include "common/error.h"

namespace grpo::tok {
namespace {

using json = nlohmann::json;

// GPT-2's pre-tokenizer regex, which `ByteLevel` applies when use_regex is true.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

const json& member(const json& j, const char* key, const std::string& file, const std::string& field) {
  if (!j.is_object() || !j.contains(key))
    throw file_error(file, field + "." + key, "missing; expected the key in this pre-tokenizer object");
  return j.at(key);
}

bool bool_or(const json& j, const char* key, bool fallback, const std::string& file, const std::string& field) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  if (!j.at(key).is_boolean()) throw file_error(file, field + "." + key, "expected true or false");
  return j.at(key).get<bool>();
}

SplitBehavior parse_behavior(const json& j, const std::string& file, const std::string& field) {
  const std::string name = j.is_string() ? j.get<std::string>() : "";
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  throw file_error(
      file, field,
      "got " + j.dump() + "; expected one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

}  // namespace

std::vector<std::pair<size_t, size_t>> split_pieces(std::string_view text, const Regex& re, SplitBehavior behavior,
                                                    bool invert) {
  // (range, is_match) covering the whole text, as tokenizers' Pattern::find_matches.
  struct Part {
    size_t start, end;
    bool match;
  };
  std::vector<Part> parts;
  if (text.empty()) return {};
  size_t prev = 0;
  re.for_each_match(text, [&](size_t start, size_t end) {
    if (prev != start) parts.push_back({prev, start, invert});
    parts.push_back({start, end, !invert});
    prev = end;
  });
  if (prev != text.size()) parts.push_back({prev, text.size(), invert});

  // (range, remove) per tokenizers' NormalizedString::split.
  struct Piece {
    size_t start, end;
    bool remove;
  };
  std::vector<Piece> pieces;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Part& p : parts) pieces.push_back({p.start, p.end, false});
      break;
    case SplitBehavior::kRemoved:
      for (const Part& p : parts) pieces.push_back({p.start, p.end, p.match});
      break;
    case SplitBehavior::kContiguous:
      for (const Part& p : parts) {
        if (p.match == previous_match && !pieces.empty())
          pieces.back().end = p.end;
        else
          pieces.push_back({p.start, p.end, false});
        previous_match = p.match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Part& p : parts) {
        if (p.match && !previous_match && !pieces.empty())
          pieces.back().end = p.end;
        else
          pieces.push_back({p.start, p.end, false});
        previous_match = p.match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !previous_match && !pieces.empty())
          pieces.back().start = it->start;
        else
          pieces.push_back({it->start, it->end, false});
        previous_match = it->match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  std::vector<std::pair<size_t, size_t>> out;
  out.reserve(pieces.size());
  for (const Piece& p : pieces)
    if (!p.remove && p.end > p.start) out.emplace_back(p.start, p.end);
  return out;
}

void PreTokenizer::parse_step(const json& j, const std::string& file, const std::string& field, bool last) {
  const json& type = member(j, "type", file, field);
  const std::string kind = type.is_string() ? type.get<std::string>() : "";
  if (kind == "Sequence") {
    const json& list = member(j, "pretokenizers", file, field);
    if (!list.is_array()) throw file_error(file, field + ".pretokenizers", "expected an array of pre-tokenizers");
    for (size_t i = 0; i < list.size(); ++i)
      parse_step(list[i], file, field + ".pretokenizers[" + std::to_string(i) + "]", last && i + 1 == list.size());
    return;
  }
  if (kind != "ByteLevel" && steps_.size() && steps_.back().kind == Step::Kind::kByteLevel)
    throw file_error(file, field, "a " + kind + " step follows ByteLevel; expected ByteLevel to be the last step");
  Step step;
  if (kind == "Split") {
    const json& pattern = member(j, "pattern", file, field);
    const bool is_regex = pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string();
    const bool is_string = pattern.is_object() && pattern.contains("String") && pattern["String"].is_string();
    if (!is_regex && !is_string)
      throw file_error(file, field + ".pattern", "expected {\"Regex\": \"...\"} or {\"String\": \"...\"}");
    const std::string sub = is_regex ? "Regex" : "String";
    step.regex =
        std::make_shared<Regex>(pattern[sub].get<std::string>(), is_string, file + ": " + field + ".pattern." + sub);
    step.behavior = parse_behavior(member(j, "behavior", file, field), file, field + ".behavior");
    step.invert = bool_or(j, "invert", false, file, field);
  } else if (kind == "Digits") {
    // tokenizers splits on char::is_numeric (general category N), one match per character.
    static const auto digit = std::make_shared<Regex>("\\p{N}", false, "Digits");
    step.regex = digit;
    step.behavior =
        bool_or(j, "individual_digits", false, file, field) ? SplitBehavior::kIsolated : SplitBehavior::kContiguous;
  } else if (kind == "ByteLevel") {
    step.kind = Step::Kind::kByteLevel;
    step.add_prefix_space = bool_or(j, "add_prefix_space", true, file, field);
    if (bool_or(j, "use_regex", true, file, field)) {
      static const auto gpt2 = std::make_shared<Regex>(kGpt2Pattern, false, "ByteLevel");
      step.regex = gpt2;
    }
    if (!last) throw file_error(file, field, "ByteLevel is not the last pre-tokenizer; expected it last");
  } else {
    throw file_error(file, field + ".type",
                     "got " + type.dump() + "; supported pre-tokenizers are Sequence, Split, Digits and ByteLevel");
  }
  steps_.push_back(std::move(step));
}

PreTokenizer PreTokenizer::from_json(const json& j, const std::string& file, const std::string& field) {
  if (j.is_null())
    throw file_error(file, field,
                     "is null; expected a byte-level pre-tokenizer (ByteLevel, or a Sequence ending in it)");
  PreTokenizer p;
  p.parse_step(j, file, field, true);
  if (p.steps_.empty() || p.steps_.back().kind != Step::Kind::kByteLevel)
    throw file_error(file, field, "has no ByteLevel step; only byte-level BPE tokenizers are supported");
  return p;
}

std::vector<std::string> PreTokenizer::pre_tokenize(std::string_view text) const {
  std::vector<std::string> pieces{std::string(text)};
  if (text.empty()) return {};
  for (const Step& step : steps_) {
    std::vector<std::string> next;
    next.reserve(pieces.size() * 2);
    for (std::string& piece : pieces) {
      if (step.kind == Step::Kind::kByteLevel && step.add_prefix_space && piece.front() != ' ')
        piece.insert(piece.begin(), ' ');
      if (!step.regex) {
        next.push_back(std::move(piece));
        continue;
      }
      const SplitBehavior behavior = step.kind == Step::Kind::kByteLevel ? SplitBehavior::kIsolated : step.behavior;
      for (auto [start, end] : split_pieces(piece, *step.regex, behavior, step.invert))
        next.emplace_back(piece.substr(start, end - start));
    }
    pieces = std::move(next);
  }
  return pieces;
}

json deepseek_v3_pre_tokenizer_json() {
  auto split = [](const char* pattern) {
    return json{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
  };
  return json{
      {"type", "Sequence"},
      {"pretokenizers",
       {split(R"(\p{N}{1,3})"),
        split("[一-龥぀-ゟ゠-ヿ]+"),
        split("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
              "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
}

}  // namespace grpo::tok
