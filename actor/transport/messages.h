// Every message that crosses between actors, in one header (DESIGN.md: one source of truth for
// the message schema), with its wire form.
//
// Wire form: a ZeroMQ multipart message.
//   frame 0: "GRPO" (4 bytes) | wire version (u16 LE) | message type (u8) | CBOR metadata
//   frame 1..: raw little-endian arrays (token ids as int32, log-probs as float32), in the order
//              the metadata's counts describe.
// Decoding checks every count, size and type and throws DecodeError on the first mismatch: a
// malformed or hostile message is dropped by the receiver, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"

namespace grpo::actor {

constexpr uint16_t kWireVersion = 1;

// One prompt of a batch: its token ids and the dataset row (answer, tests, ...) for the reward.
struct Prompt {
  uint64_t prompt_id = 0;
  std::vector<int32_t> tokens;
  nlohmann::json row = nlohmann::json::object();
};

// Learner → rollout: sample `group_size` completions for each prompt with these settings.
struct PromptBatch {
  uint64_t batch_id = 0;
  uint64_t weight_version = 0;  // the policy version the learner expects (newest published)
  uint32_t group_size = 1;
  nlohmann::json sampling = nlohmann::json::object();  // temperature, top_p, max_new_tokens, seed, ...
  std::vector<Prompt> prompts;
};

struct Completion {
  std::string text;  // the decoded completion (what the reward script reads)
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // behaviour log-prob of each token (rollout/sampling.h definition)
  std::string finish_reason;    // "eos" | "stop" | "length" | "error"
  uint64_t version_start = 0;   // weight versions that produced the first and last token
  uint64_t version_end = 0;
};

// Rollout → reward: the G completions of one prompt.
struct TrajectoryGroup {
  uint64_t batch_id = 0;
  Prompt prompt;
  std::vector<Completion> completions;
};

struct SampleScore {
  std::optional<double> reward;           // nullopt: "not applicable" (script returned nil)
  std::map<std::string, double> metrics;  // extra numeric fields of the script's result
  std::string failure;                    // non-empty: the script failed; reward is the fallback
};

// Reward → learner: the group with one score per completion.
struct ScoredGroup {
  TrajectoryGroup group;
  std::vector<SampleScore> scores;
  std::string reward_script_sha256;
};

// Learner → rollout: weights of `version` are available through `transport`.
struct WeightAnnouncement {
  uint64_t version = 0;
  std::string format;  // "bf16" | "fp8" | "fp32"
  uint64_t total_bytes = 0;
  std::string transport;  // "nccl" | "zmq" | "shm:<name>"
};

struct Heartbeat {
  std::string role;  // "learner" | "rollout" | "reward"
  uint32_t rank = 0;
  uint64_t sequence = 0;
};

struct Shutdown {
  std::string reason;
};

using Message = std::variant<PromptBatch, TrajectoryGroup, ScoredGroup, WeightAnnouncement, Heartbeat, Shutdown>;

enum class MessageType : uint8_t {
  kPromptBatch = 1,
  kTrajectoryGroup = 2,
  kScoredGroup = 3,
  kWeightAnnouncement = 4,
  kHeartbeat = 5,
  kShutdown = 6,
};

MessageType type_of(const Message& message);
std::string to_string(MessageType type);

// A malformed message; what() says which part is wrong.
class DecodeError : public Error {
 public:
  using Error::Error;
};

using Frames = std::vector<std::string>;

Frames encode(const Message& message);
Message decode(const Frames& frames);  // throws DecodeError

// Limits that bound the memory a hostile message can make the decoder allocate.
constexpr size_t kMaxMetadataBytes = 64u << 20;
constexpr size_t kMaxFrames = 1u << 20;

}  // namespace grpo::actor
