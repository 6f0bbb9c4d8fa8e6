#include "model/tokenizer_bpe.h"

#include <mutex>
#include <queue>

#include "common/error.h"
#include "model/tokenizer_bytes.h"

namespace grpo::tok {

using json = nlohmann::json;

struct BpeModel::Cache {
  static constexpr size_t kCapacity = 10000;  // as tokenizers' default; cleared when full
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

namespace {

std::string optional_string(const json& model, const char* key, const std::string& file) {
  if (!model.contains(key) || model[key].is_null()) return "";
  if (!model[key].is_string()) throw file_error(file, std::string("model.") + key, "expected a string or null");
  return model[key].get<std::string>();
}

}  // namespace

BpeModel BpeModel::from_json(const json& model, const std::string& file) {
  if (!model.is_object()) throw file_error(file, "model", "expected an object with type \"BPE\", vocab and merges");
  if (model.contains("type") && model["type"] != "BPE")
    throw file_error(file, "model.type", "got " + model["type"].dump() + "; only \"BPE\" models are supported");
  if (!model.contains("vocab") || !model["vocab"].is_object())
    throw file_error(file, "model.vocab", "missing or not an object; expected {\"token\": id, ...}");
  if (!model.contains("merges") || !model["merges"].is_array())
    throw file_error(file, "model.merges", "missing or not an array; expected [\"a b\", ...] or [[\"a\", \"b\"], ...]");
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"] != 0.0)
    throw file_error(file, "model.dropout",
                     "is " + model["dropout"].dump() + "; expected null (BPE dropout is random)");
  if (!optional_string(model, "continuing_subword_prefix", file).empty() ||
      !optional_string(model, "end_of_word_suffix", file).empty())
    throw file_error(file, "model",
                     "continuing_subword_prefix / end_of_word_suffix are set; expected null for byte-level BPE");
  if (model.contains("byte_fallback") && model["byte_fallback"] == true)
    throw file_error(file, "model.byte_fallback", "is true; expected false (byte-level BPE needs no byte fallback)");

  BpeModel m;
  m.cache_ = std::make_shared<Cache>();
  m.byte_ids_.fill(-1);
  for (const auto& [token, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      throw file_error(file, "model.vocab[\"" + token + "\"]",
                       "is " + id.dump() + "; expected a non-negative integer id");
    m.vocab_.emplace(token, id.get<int32_t>());
    const auto bytes = byte_level_to_bytes(token);
    if (bytes && bytes->size() == 1) m.byte_ids_[static_cast<uint8_t>((*bytes)[0])] = id.get<int32_t>();
  }

  const json& merges = model["merges"];
  m.merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string field = "model.merges[" + std::to_string(i) + "]";
    std::string a, b;
    if (merges[i].is_string()) {
      const std::string line = merges[i].get<std::string>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        throw file_error(file, field, "is \"" + line + "\"; expected two tokens separated by one space");
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else if (merges[i].is_array() && merges[i].size() == 2 && merges[i][0].is_string() && merges[i][1].is_string()) {
      a = merges[i][0].get<std::string>();
      b = merges[i][1].get<std::string>();
    } else {
      throw file_error(file, field, "is " + merges[i].dump() + "; expected \"a b\" or [\"a\", \"b\"]");
    }
    const auto ia = m.vocab_.find(a), ib = m.vocab_.find(b), iab = m.vocab_.find(a + b);
    if (ia == m.vocab_.end() || ib == m.vocab_.end() || iab == m.vocab_.end())
      throw file_error(file, field,
                       "merges \"" + a + "\" + \"" + b + "\" but \"" +
                           (ia == m.vocab_.end()   ? a
                            : ib == m.vocab_.end() ? b
                                                   : a + b) +
                           "\" is not in model.vocab; expected every merge part and result in the vocab");
    // A repeated pair takes its last rank, as a map built from the list in order does.
    m.merges_[pair_key(ia->second, ib->second)] = {static_cast<int32_t>(i), iab->second};
  }

  const std::string unk = optional_string(model, "unk_token", file);
  if (!unk.empty()) {
    auto it = m.vocab_.find(unk);
    if (it == m.vocab_.end()) throw file_error(file, "model.unk_token", "\"" + unk + "\" is not in model.vocab");
    m.unk_id_ = it->second;
  }
  m.fuse_unk_ = model.value("fuse_unk", false);
  m.ignore_merges_ = model.value("ignore_merges", false);
  return m;
}

std::vector<int32_t> BpeModel::merge_word(std::string_view bytes) const {
  // Doubly linked symbols; a merged-away symbol gets len 0. Mirrors tokenizers' Word::merge_all.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    size_t len;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(bytes.size());
  auto add = [&](int32_t id, size_t len) {
    const int32_t index = static_cast<int32_t>(symbols.size());
    if (index > 0) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, len});
  };
  // Bytes with no vocab entry become unk (fused if fuse_unk) or are dropped when there is no unk.
  std::optional<std::pair<int32_t, size_t>> pending_unk;
  for (unsigned char byte : bytes) {
    const int32_t id = byte_ids_[byte];
    if (id >= 0) {
      if (pending_unk) add(pending_unk->first, pending_unk->second), pending_unk.reset();
      add(id, 1);
    } else if (unk_id_) {
      if (pending_unk && fuse_unk_) {
        pending_unk->second += 1;
      } else {
        if (pending_unk) add(pending_unk->first, pending_unk->second);
        pending_unk = {*unk_id_, 1};
      }
    }
  }
  if (pending_unk) add(pending_unk->first, pending_unk->second);

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t id;
    // Lowest rank first, then leftmost.
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate> queue;
  auto lookup = [&](int32_t a, int32_t b) -> const MergeTarget* {
    auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    if (const MergeTarget* m = lookup(symbols[i].id, symbols[i + 1].id))
      queue.push({m->rank, static_cast<int32_t>(i), m->id});

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.len == 0 || left.next < 0) continue;
    const int32_t right_pos = left.next;
    const Symbol right = symbols[right_pos];
    // An entry is stale when the pair at its position no longer merges into its result.
    const MergeTarget* now = lookup(left.id, right.id);
    if (!now || now->id != top.id) continue;
    left.id = top.id;
    left.len += right.len;
    left.next = right.next;
    symbols[right_pos].len = 0;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0)
      if (const MergeTarget* m = lookup(symbols[left.prev].id, left.id)) queue.push({m->rank, left.prev, m->id});
    if (left.next >= 0)
      if (const MergeTarget* m = lookup(left.id, symbols[left.next].id)) queue.push({m->rank, top.pos, m->id});
  }
  std::vector<int32_t> ids;
  for (const Symbol& s : symbols)
    if (s.len) ids.push_back(s.id);
  return ids;
}

void BpeModel::encode_word(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(bytes_to_byte_level(bytes));
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const std::string key(bytes);
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(key);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = merge_word(bytes);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->words.size() >= Cache::kCapacity) cache_->words.clear();
  cache_->words.emplace(key, std::move(ids));
}

}  // namespace grpo::tok
