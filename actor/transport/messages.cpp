#include "actor/transport/messages.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace grpo::actor {
namespace {

using nlohmann::json;
static_assert(std::endian::native == std::endian::little,
              "the wire form is little-endian; add byte swaps for big-endian hosts");

constexpr char kMagic[4] = {'G', 'R', 'P', 'O'};
constexpr size_t kHeaderBytes = 7;  // magic + u16 version + u8 type
constexpr int kMaxCborDepth = 64;

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// ---- encoding ---------------------------------------------------------------------------

template <class T>
std::string array_frame(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

json prompt_meta(const Prompt& p) { return {{"id", p.prompt_id}, {"n", p.tokens.size()}, {"row", p.row}}; }

json group_meta(const TrajectoryGroup& g, Frames& frames) {
  json completions = json::array();
  frames.push_back(array_frame(g.prompt.tokens));
  for (const auto& c : g.completions) {
    completions.push_back({{"text", c.text},
                           {"n", c.tokens.size()},
                           {"finish", c.finish_reason},
                           {"v0", c.version_start},
                           {"v1", c.version_end},
                           {"has_lp", !c.logprobs.empty()}});
    frames.push_back(array_frame(c.tokens));
    frames.push_back(array_frame(c.logprobs));
  }
  return {{"batch", g.batch_id}, {"prompt", prompt_meta(g.prompt)}, {"completions", completions}};
}

json score_meta(const SampleScore& s) {
  json metrics = json::object();
  for (const auto& [k, v] : s.metrics) metrics[k] = v;
  return {{"reward", s.reward ? json(*s.reward) : json(nullptr)}, {"metrics", metrics}, {"failure", s.failure}};
}

// ---- decoding ---------------------------------------------------------------------------

[[noreturn]] void fail(const std::string& what) { throw DecodeError("malformed message: " + what); }

// Builds the DOM like nlohmann's own parser but refuses nesting deeper than kMaxCborDepth, so a
// hostile message cannot exhaust the stack of the (recursive) CBOR reader.
class DepthLimitedSax : public nlohmann::detail::json_sax_dom_parser<json> {
 public:
  explicit DepthLimitedSax(json& result) : json_sax_dom_parser(result, /*allow_exceptions=*/false) {}
  bool start_object(std::size_t n) { return ++depth_ <= kMaxCborDepth && json_sax_dom_parser::start_object(n); }
  bool end_object() {
    --depth_;
    return json_sax_dom_parser::end_object();
  }
  bool start_array(std::size_t n) { return ++depth_ <= kMaxCborDepth && json_sax_dom_parser::start_array(n); }
  bool end_array() {
    --depth_;
    return json_sax_dom_parser::end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  int depth_ = 0;
};

json parse_metadata(std::string_view cbor) {
  if (cbor.size() > kMaxMetadataBytes) fail("metadata larger than " + std::to_string(kMaxMetadataBytes) + " bytes");
  json result;
  DepthLimitedSax sax(result);
  bool ok = false;
  try {
    ok = json::sax_parse(cbor.begin(), cbor.end(), &sax, nlohmann::detail::input_format_t::cbor, /*strict=*/true);
  } catch (const std::exception& e) {
    fail(std::string("metadata is not valid CBOR (") + e.what() + ")");
  }
  if (!ok || sax.is_errored())
    fail("metadata is not valid CBOR (or nested deeper than " + std::to_string(kMaxCborDepth) + ")");
  if (!result.is_object()) fail("metadata is not a map");
  return result;
}

const json& field(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) fail(where + " is not a map");
  auto it = obj.find(key);
  if (it == obj.end()) fail(where + "." + key + " is missing");
  return *it;
}

uint64_t get_u64(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_number_unsigned()) fail(where + "." + key + " is not an unsigned integer");
  return v.get<uint64_t>();
}

std::string get_str(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_string()) fail(where + "." + key + " is not a string");
  return v.get<std::string>();
}

bool get_bool(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_boolean()) fail(where + "." + key + " is not a boolean");
  return v.get<bool>();
}

const json& get_arr(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_array()) fail(where + "." + key + " is not an array");
  return v;
}

const json& get_obj(const json& obj, const char* key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_object()) fail(where + "." + key + " is not a map");
  return v;
}

// Hands out the array frames in order, checking each one's size against the metadata's count.
class FrameCursor {
 public:
  explicit FrameCursor(const Frames& frames) : frames_(frames) {}
  template <class T>
  std::vector<T> take(uint64_t count, const std::string& what) {
    if (next_ >= frames_.size()) fail("frame for " + what + " is missing");
    const std::string& f = frames_[next_++];
    if (count > f.size() / sizeof(T) || f.size() != count * sizeof(T))
      fail("frame for " + what + " has " + std::to_string(f.size()) + " bytes, expected " + std::to_string(count) +
           " × " + std::to_string(sizeof(T)));
    std::vector<T> out(count);
    if (count) std::memcpy(out.data(), f.data(), f.size());
    return out;
  }
  void expect_end() const {
    if (next_ != frames_.size()) fail(std::to_string(frames_.size() - next_) + " unexpected extra frame(s)");
  }

 private:
  const Frames& frames_;
  size_t next_ = 1;  // frame 0 is the header
};

Prompt decode_prompt(const json& m, FrameCursor& frames, const std::string& where) {
  Prompt p;
  p.prompt_id = get_u64(m, "id", where);
  p.row = get_obj(m, "row", where);
  p.tokens = frames.take<int32_t>(get_u64(m, "n", where), where + " tokens");
  return p;
}

TrajectoryGroup decode_group(const json& meta, FrameCursor& frames) {
  TrajectoryGroup g;
  g.batch_id = get_u64(meta, "batch", "group");
  g.prompt = decode_prompt(get_obj(meta, "prompt", "group"), frames, "group.prompt");
  const json& completions = get_arr(meta, "completions", "group");
  for (size_t i = 0; i < completions.size(); ++i) {
    const std::string where = "group.completions[" + std::to_string(i) + "]";
    const json& c = completions[i];
    Completion out;
    const uint64_t n = get_u64(c, "n", where);
    out.text = get_str(c, "text", where);
    out.finish_reason = get_str(c, "finish", where);
    out.version_start = get_u64(c, "v0", where);
    out.version_end = get_u64(c, "v1", where);
    if (out.version_end < out.version_start) fail(where + ": version range ends before it starts");
    out.tokens = frames.take<int32_t>(n, where + " tokens");
    out.logprobs = frames.take<float>(get_bool(c, "has_lp", where) ? n : 0, where + " logprobs");
    g.completions.push_back(std::move(out));
  }
  return g;
}

SampleScore decode_score(const json& s, const std::string& where) {
  SampleScore out;
  const json& reward = field(s, "reward", where);
  if (reward.is_number()) {
    out.reward = reward.get<double>();
    if (!std::isfinite(*out.reward)) fail(where + ".reward is not finite");
  } else if (!reward.is_null()) {
    fail(where + ".reward is neither a number nor null");
  }
  for (const auto& [k, v] : get_obj(s, "metrics", where).items()) {
    if (!v.is_number()) fail(where + ".metrics." + k + " is not a number");
    out.metrics[k] = v.get<double>();
  }
  out.failure = get_str(s, "failure", where);
  return out;
}

}  // namespace

MessageType type_of(const Message& message) { return static_cast<MessageType>(message.index() + 1); }

std::string to_string(MessageType type) {
  switch (type) {
    case MessageType::kPromptBatch:
      return "PromptBatch";
    case MessageType::kTrajectoryGroup:
      return "TrajectoryGroup";
    case MessageType::kScoredGroup:
      return "ScoredGroup";
    case MessageType::kWeightAnnouncement:
      return "WeightAnnouncement";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kShutdown:
      return "Shutdown";
  }
  return "unknown(" + std::to_string(static_cast<int>(type)) + ")";
}

Frames encode(const Message& message) {
  Frames frames(1);
  json meta = std::visit(
      Overloaded{
          [&](const PromptBatch& b) {
            json prompts = json::array();
            for (const auto& p : b.prompts) {
              prompts.push_back(prompt_meta(p));
              frames.push_back(array_frame(p.tokens));
            }
            return json{{"batch", b.batch_id},
                        {"version", b.weight_version},
                        {"group_size", b.group_size},
                        {"sampling", b.sampling},
                        {"prompts", prompts}};
          },
          [&](const TrajectoryGroup& g) { return group_meta(g, frames); },
          [&](const ScoredGroup& s) {
            json meta = group_meta(s.group, frames);
            json scores = json::array();
            for (const auto& sc : s.scores) scores.push_back(score_meta(sc));
            meta["scores"] = scores;
            meta["script_sha256"] = s.reward_script_sha256;
            return meta;
          },
          [&](const WeightAnnouncement& w) {
            return json{
                {"version", w.version}, {"format", w.format}, {"bytes", w.total_bytes}, {"transport", w.transport}};
          },
          [&](const Heartbeat& h) {
            return json{{"role", h.role}, {"rank", h.rank}, {"seq", h.sequence}};
          },
          [&](const Shutdown& s) {
            return json{{"reason", s.reason}};
          },
      },
      message);
  std::string& header = frames[0];
  header.assign(kMagic, 4);
  header.push_back(static_cast<char>(kWireVersion & 0xff));
  header.push_back(static_cast<char>(kWireVersion >> 8));
  header.push_back(static_cast<char>(type_of(message)));
  std::vector<uint8_t> cbor = json::to_cbor(meta);
  header.append(reinterpret_cast<const char*>(cbor.data()), cbor.size());
  return frames;
}

Message decode(const Frames& frames) {
  if (frames.empty()) fail("no frames");
  if (frames.size() > kMaxFrames) fail("more than " + std::to_string(kMaxFrames) + " frames");
  const std::string& header = frames[0];
  if (header.size() < kHeaderBytes || std::memcmp(header.data(), kMagic, 4) != 0)
    fail("frame 0 does not start with GRPO");
  const uint16_t version =
      static_cast<uint16_t>(static_cast<uint8_t>(header[4]) | (static_cast<uint8_t>(header[5]) << 8));
  if (version != kWireVersion)
    fail("wire version " + std::to_string(version) + ", this build speaks " + std::to_string(kWireVersion) +
         " (run the same grpo version on every host)");
  const auto type = static_cast<MessageType>(static_cast<uint8_t>(header[6]));
  json meta = parse_metadata(std::string_view(header).substr(kHeaderBytes));
  FrameCursor cursor(frames);
  Message out;
  switch (type) {
    case MessageType::kPromptBatch: {
      PromptBatch b;
      b.batch_id = get_u64(meta, "batch", "batch");
      b.weight_version = get_u64(meta, "version", "batch");
      const uint64_t g = get_u64(meta, "group_size", "batch");
      if (g == 0 || g > 1u << 20) fail("batch.group_size must be in 1..2^20");
      b.group_size = static_cast<uint32_t>(g);
      b.sampling = get_obj(meta, "sampling", "batch");
      const json& prompts = get_arr(meta, "prompts", "batch");
      for (size_t i = 0; i < prompts.size(); ++i)
        b.prompts.push_back(decode_prompt(prompts[i], cursor, "batch.prompts[" + std::to_string(i) + "]"));
      out = std::move(b);
      break;
    }
    case MessageType::kTrajectoryGroup:
      out = decode_group(meta, cursor);
      break;
    case MessageType::kScoredGroup: {
      ScoredGroup s;
      s.group = decode_group(meta, cursor);
      const json& scores = get_arr(meta, "scores", "scored");
      if (scores.size() != s.group.completions.size())
        fail("scored.scores has " + std::to_string(scores.size()) + " entries for " +
             std::to_string(s.group.completions.size()) + " completions");
      for (size_t i = 0; i < scores.size(); ++i)
        s.scores.push_back(decode_score(scores[i], "scored.scores[" + std::to_string(i) + "]"));
      s.reward_script_sha256 = get_str(meta, "script_sha256", "scored");
      out = std::move(s);
      break;
    }
    case MessageType::kWeightAnnouncement:
      out = WeightAnnouncement{get_u64(meta, "version", "weights"), get_str(meta, "format", "weights"),
                               get_u64(meta, "bytes", "weights"), get_str(meta, "transport", "weights")};
      break;
    case MessageType::kHeartbeat: {
      const uint64_t rank = get_u64(meta, "rank", "heartbeat");
      if (rank > UINT32_MAX) fail("heartbeat.rank out of range");
      out =
          Heartbeat{get_str(meta, "role", "heartbeat"), static_cast<uint32_t>(rank), get_u64(meta, "seq", "heartbeat")};
      break;
    }
    case MessageType::kShutdown:
      out = Shutdown{get_str(meta, "reason", "shutdown")};
      break;
    default:
      fail("unknown message type " + std::to_string(static_cast<int>(type)));
  }
  cursor.expect_end();
  return out;
}

}  // namespace grpo::actor
