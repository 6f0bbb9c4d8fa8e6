#include "learner/trainer_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace grpo::learner {
namespace {

using nlohmann::json;

std::string to_hex(const torch::Tensor& bytes) {
  static const char* digits = "0123456789abcdef";
  auto t = bytes.contiguous();
  const auto* p = t.data_ptr<uint8_t>();
  std::string out;
  for (int64_t i = 0; i < t.numel(); ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

torch::Tensor from_hex(const std::string& hex, const std::string& file) {
  if (hex.size() % 2) throw file_error(file, "torch_cpu_rng", "odd number of hex digits");
  auto t = torch::empty({static_cast<int64_t>(hex.size() / 2)}, torch::kUInt8);
  auto* p = t.data_ptr<uint8_t>();
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw file_error(file, "torch_cpu_rng", "not a hex digit");
  };
  for (size_t i = 0; i < hex.size(); i += 2) p[i / 2] = static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  return t;
}

}  // namespace

std::string rng_to_string(const std::mt19937_64& rng) {
  std::ostringstream s;
  s << rng;
  return s.str();
}

std::mt19937_64 rng_from_string(const std::string& text, const std::string& file) {
  std::mt19937_64 rng;
  std::istringstream s(text);
  s >> rng;
  if (s.fail()) throw file_error(file, "data_rng", "not a std::mt19937_64 state");
  return rng;
}

void save_trainer_state(const std::string& dir, const TrainerState& state, torch::optim::Optimizer& optimizer) {
  std::filesystem::create_directories(dir);
  std::string rng_hex;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng_hex = to_hex(at::Tensor(gen.get_state()));
  }
  json j = {{"format", "grpo-trainer-state-1"},
            {"step", state.step},
            {"data_rng", state.data_rng},
            {"order", state.order},
            {"cursor", state.cursor},
            {"metrics_lines", state.metrics_lines},
            {"trajectory_records", state.trajectory_records},
            {"trajectory_bytes", state.trajectory_bytes},
            {"reference_step", state.reference_step},
            {"torch_cpu_rng", rng_hex}};
  write_file_atomic(dir + "/state.json", j.dump(1) + "\n");
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(dir + "/optimizer.pt", bytes.str());
}

TrainerState load_trainer_state(const std::string& dir, torch::optim::Optimizer& optimizer) {
  const std::string file = dir + "/state.json";
  json j = json::parse(read_file(file), nullptr, false);
  if (!j.is_object() || j.value("format", "") != "grpo-trainer-state-1")
    throw file_error(file, "format", "expected a grpo-trainer-state-1 object (written by grpo train)");
  TrainerState s;
  try {
    s.step = j.at("step").get<long>();
    s.data_rng = j.at("data_rng").get<std::string>();
    s.order = j.at("order").get<std::vector<size_t>>();
    s.cursor = j.at("cursor").get<size_t>();
    s.metrics_lines = j.at("metrics_lines").get<uint64_t>();
    s.trajectory_records = j.at("trajectory_records").get<uint64_t>();
    s.trajectory_bytes = j.at("trajectory_bytes").get<uint64_t>();
    s.reference_step = j.at("reference_step").get<long>();
    s.torch_cpu_rng = j.at("torch_cpu_rng").get<std::string>();
  } catch (const json::exception& e) {
    throw file_error(file, "", std::string("missing or mistyped field: ") + e.what());
  }
  if (s.cursor > s.order.size()) throw file_error(file, "cursor", "past the end of `order`");
  torch::serialize::InputArchive archive;
  std::istringstream bytes(read_file(dir + "/optimizer.pt"));
  try {
    archive.load_from(bytes);
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    throw file_error(
        dir + "/optimizer.pt", "",
        std::string("cannot restore the optimizer (was the model changed?): ") + e.what_without_backtrace());
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(from_hex(s.torch_cpu_rng, file));
  }
  return s;
}

uint64_t count_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

void truncate_lines(const std::string& path, uint64_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::string kept, line;
  for (uint64_t n = 0; n < lines && std::getline(in, line); ++n) kept += line + "\n";
  in.close();
  write_file_atomic(path, kept);
}

}  // namespace grpo::learner
