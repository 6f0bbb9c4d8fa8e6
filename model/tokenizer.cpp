#include "model/tokenizer.h"

#include <algorithm>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/tokenizer_bytes.h"

namespace grpo {

using json = nlohmann::json;

namespace {

// tokenizers applies no normalizer for null or an empty Sequence (DeepSeek-V3 ships the latter).
void check_normalizer(const json& j, const std::string& file, const std::string& field) {
  if (j.is_null()) return;
  if (j.is_object() && j.value("type", "") == "Sequence" && j.contains("normalizers") && j["normalizers"].is_array()) {
    for (size_t i = 0; i < j["normalizers"].size(); ++i)
      check_normalizer(j["normalizers"][i], file, field + ".normalizers[" + std::to_string(i) + "]");
    return;
  }
  throw file_error(
      file, field,
      "is " + j.dump().substr(0, 80) + "; expected null or an empty Sequence (normalizers are not supported)");
}

bool flag(const json& j, const char* key, bool fallback, const std::string& file, const std::string& field) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean())
    throw file_error(file, field + "." + key, "is " + j[key].dump() + "; expected true or false");
  return j[key].get<bool>();
}

std::vector<tok::AddedToken> parse_added_tokens(const json& j, const std::string& file) {
  std::vector<tok::AddedToken> out;
  if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return out;
  const json& list = j["added_tokens"];
  if (!list.is_array()) throw file_error(file, "added_tokens", "expected an array of {id, content, special, ...}");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    const json& t = list[i];
    if (!t.is_object()) throw file_error(file, field, "expected an object");
    if (!t.contains("id") || !t["id"].is_number_integer() || t["id"].get<int64_t>() < 0 ||
        t["id"].get<int64_t>() > INT32_MAX)
      throw file_error(file, field + ".id", "missing or not a non-negative integer");
    if (!t.contains("content") || !t["content"].is_string() || t["content"].get<std::string>().empty())
      throw file_error(file, field + ".content", "missing or empty; expected the token's text");
    tok::AddedToken a;
    a.id = t["id"].get<int32_t>();
    a.content = t["content"].get<std::string>();
    a.special = flag(t, "special", false, file, field);
    a.single_word = flag(t, "single_word", false, file, field);
    a.lstrip = flag(t, "lstrip", false, file, field);
    a.rstrip = flag(t, "rstrip", false, file, field);
    a.normalized = flag(t, "normalized", !a.special, file, field);
    out.push_back(std::move(a));
  }
  return out;
}

// The id of a Bert/Roberta post-processor token written as ["[CLS]", 101].
int64_t special_id(const json& name_id, const std::string& file, const std::string& field) {
  if (!name_id.is_array() || name_id.size() != 2 || !name_id[1].is_number_integer())
    throw file_error(file, field, "expected [\"token\", id]");
  return name_id[1].get<int64_t>();
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
  const std::string text = read_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw file_error(path, "", std::string("is not valid JSON (") + e.what() + "); expected a tokenizer.json");
  }
  return from_json(j, path);
}

Tokenizer Tokenizer::from_json(const json& j, const std::string& file) {
  if (!j.is_object()) throw file_error(file, "", "expected a tokenizer.json object");
  if (!j.contains("model")) throw file_error(file, "model", "missing; expected the BPE model object");
  if (!j.contains("pre_tokenizer"))
    throw file_error(file, "pre_tokenizer", "missing; expected a byte-level pre-tokenizer");
  check_normalizer(j.value("normalizer", json()), file, "normalizer");

  Tokenizer t;
  t.model_ = tok::BpeModel::from_json(j["model"], file);
  t.pre_tokenizer_ =
      std::make_shared<tok::PreTokenizer>(tok::PreTokenizer::from_json(j["pre_tokenizer"], file, "pre_tokenizer"));
  t.added_ = parse_added_tokens(j, file);

  std::vector<tok::AddedToken> raw, normalized;
  for (const auto& a : t.added_) (a.normalized ? normalized : raw).push_back(a);
  t.raw_matcher_ = tok::AddedTokenMatcher(std::move(raw));
  t.normalized_matcher_ = tok::AddedTokenMatcher(std::move(normalized));

  // Id table: model vocab first, added tokens override (tokenizers looks them up first).
  int64_t size = 0;
  for (const auto& [text, id] : t.model_.vocab()) size = std::max<int64_t>(size, id + 1);
  for (const auto& a : t.added_) size = std::max<int64_t>(size, a.id + 1);
  t.tokens_.resize(size);
  for (const auto& [text, id] : t.model_.vocab()) {
    if (t.tokens_[id].present)
      throw file_error(file, "model.vocab",
                       "id " + std::to_string(id) + " is used by both \"" + t.tokens_[id].text + "\" and \"" + text +
                           "\"; expected unique ids");
    t.tokens_[id] = {text, "", true, false};
  }
  for (const auto& a : t.added_) {
    t.tokens_[a.id] = {a.content, "", true, a.special};
    t.added_ids_[a.content] = a.id;
  }

  // Decoder: ByteLevel maps each token's characters back to bytes; a token with a character
  // outside the map (a special token like "<｜end▁of▁sentence｜>") contributes its UTF-8 as is.
  const json decoder = j.value("decoder", json());
  auto is_byte_level = [](const json& d) { return d.is_object() && d.value("type", "") == "ByteLevel"; };
  if (decoder.is_null()) {
    t.byte_level_decoder_ = false;  // tokenizers then joins the token strings with spaces
  } else if (is_byte_level(decoder) || (decoder.value("type", "") == "Sequence" && decoder.contains("decoders") &&
                                        decoder["decoders"].is_array() && decoder["decoders"].size() == 1 &&
                                        is_byte_level(decoder["decoders"][0]))) {
    t.byte_level_decoder_ = true;
  } else {
    throw file_error(file, "decoder",
                     "is " + decoder.dump().substr(0, 80) + "; expected {\"type\": \"ByteLevel\"} or null");
  }
  for (TokenInfo& info : t.tokens_) {
    if (!info.present) continue;
    auto bytes = tok::byte_level_to_bytes(info.text);
    info.bytes = bytes ? *bytes : info.text;
  }

  // Post-processor for a single sequence: fixed ids before and after the text.
  const json post = j.value("post_processor", json());
  std::vector<json> processors;
  if (post.is_object() && post.value("type", "") == "Sequence" && post.contains("processors") &&
      post["processors"].is_array())
    processors.assign(post["processors"].begin(), post["processors"].end());
  else if (!post.is_null())
    processors.push_back(post);
  for (size_t p = 0; p < processors.size(); ++p) {
    const json& proc = processors[p];
    const std::string field =
        post.contains("processors") ? "post_processor.processors[" + std::to_string(p) + "]" : "post_processor";
    const std::string type = proc.is_object() ? proc.value("type", "") : "";
    if (type == "ByteLevel") continue;  // only trims offsets
    if (type == "TemplateProcessing") {
      if (!proc.contains("single") || !proc["single"].is_array())
        throw file_error(file, field + ".single", "missing; expected the template's list of pieces");
      bool seen_sequence = false;
      for (size_t k = 0; k < proc["single"].size(); ++k) {
        const json& piece = proc["single"][k];
        const std::string pfield = field + ".single[" + std::to_string(k) + "]";
        if (piece.contains("Sequence")) {
          seen_sequence = true;
          continue;
        }
        if (!piece.contains("SpecialToken") || !piece["SpecialToken"].contains("id"))
          throw file_error(file, pfield, "expected {\"Sequence\": ...} or {\"SpecialToken\": {\"id\": ...}}");
        const json name = piece["SpecialToken"]["id"];
        const json& specials = proc.value("special_tokens", json::object());
        if (!name.is_string() || !specials.contains(name.get<std::string>()) ||
            !specials[name.get<std::string>()].contains("ids") || !specials[name.get<std::string>()]["ids"].is_array())
          throw file_error(file, field + ".special_tokens", "has no entry with ids for " + name.dump());
        for (const json& id : specials[name.get<std::string>()]["ids"])
          (seen_sequence ? t.suffix_ids_ : t.prefix_ids_).push_back(id.get<int64_t>());
      }
    } else if (type == "BertProcessing" || type == "RobertaProcessing") {
      t.prefix_ids_.push_back(special_id(proc.value("cls", json()), file, field + ".cls"));
      t.suffix_ids_.push_back(special_id(proc.value("sep", json()), file, field + ".sep"));
    } else {
      throw file_error(
          file, field + ".type",
          "is \"" + type + "\"; expected ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing or null");
    }
  }
  return t;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const std::string repaired = tok::utf8_lossy(text);
  const std::string_view s = repaired;
  std::vector<int32_t> ids;
  ids.reserve(s.size() / 3 + 4);
  auto encode_plain = [&](std::string_view plain) {
    for (const std::string& piece : pre_tokenizer_->pre_tokenize(plain)) model_.encode_word(piece, ids);
  };
  for (const auto& seg : raw_matcher_.split(s)) {
    if (seg.token >= 0) {
      ids.push_back(raw_matcher_.tokens()[seg.token].id);
      continue;
    }
    // No normalizer is supported, so the normalized text is the text itself.
    const std::string_view part = s.substr(seg.start, seg.end - seg.start);
    for (const auto& sub : normalized_matcher_.split(part)) {
      if (sub.token >= 0)
        ids.push_back(normalized_matcher_.tokens()[sub.token].id);
      else
        encode_plain(part.substr(sub.start, sub.end - sub.start));
    }
  }
  std::vector<int64_t> out;
  out.reserve(ids.size() + prefix_ids_.size() + suffix_ids_.size());
  if (add_special_tokens) out.insert(out.end(), prefix_ids_.begin(), prefix_ids_.end());
  out.insert(out.end(), ids.begin(), ids.end());
  if (add_special_tokens) out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  bool first = true;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size() || !tokens_[id].present) continue;
    const TokenInfo& info = tokens_[id];
    if (skip_special_tokens && info.special) continue;
    if (byte_level_decoder_) {
      bytes += info.bytes;
    } else {
      if (!first) bytes += ' ';
      bytes += info.text;
    }
    first = false;
  }
  return tok::utf8_lossy(bytes);
}

std::optional<int64_t> Tokenizer::token_to_id(std::string_view token) const {
  const std::string key(token);
  if (auto it = added_ids_.find(key); it != added_ids_.end()) return it->second;
  if (auto it = model_.vocab().find(key); it != model_.vocab().end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> Tokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= vocab_size() || !tokens_[id].present) return std::nullopt;
  return tokens_[id].text;
}

bool Tokenizer::is_special(int64_t id) const { return id >= 0 && id < vocab_size() && tokens_[id].special; }

}  // namespace grpo
