#include "learner/metrics_log.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/checksum.h"
#include "common/error.h"

namespace grpo::learner {
namespace {

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Minimal protobuf writer for the two messages TensorBoard needs:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<uint64_t>(field << 3 | wire_type));
}
void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}
void put_double(std::string& out, int field, double v) {
  put_key(out, field, 1);
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}
void put_float(std::string& out, int field, float v) {
  put_key(out, field, 5);
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

std::string event_header(double time) {
  std::string e;
  put_double(e, 1, time);
  put_bytes(e, 3, "brain.Event:2");
  return e;
}

std::string scalar_event(double time, int64_t step, const std::map<std::string, double>& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;
    put_bytes(v, 1, tag);
    put_float(v, 2, static_cast<float>(value));
    put_bytes(summary, 1, v);
  }
  std::string e;
  put_double(e, 1, time);
  put_key(e, 2, 0);
  put_varint(e, static_cast<uint64_t>(step));
  put_bytes(e, 5, summary);
  return e;
}

uint32_t masked_crc(const void* data, size_t size) {
  uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

}  // namespace

MetricsLog::MetricsLog(const std::string& run_dir, bool resume) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir + "/tb", ec);
  if (ec) throw file_error(run_dir, "", "cannot create the run folder: " + ec.message());
  jsonl_path_ = run_dir + "/metrics.jsonl";
  jsonl_ = std::fopen(jsonl_path_.c_str(), resume ? "a" : "w");
  if (!jsonl_) throw file_error(jsonl_path_, "", std::string("cannot open: ") + std::strerror(errno));
  // TensorBoard reads every events file in the folder; a resumed run adds a new one.
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  const double now = wall_time();
  events_path_ = run_dir + "/tb/events.out.tfevents." + std::to_string(static_cast<int64_t>(now)) + "." + host + "." +
                 std::to_string(::getpid()) + "." +
                 std::to_string(static_cast<int64_t>(now * 1e6) % 1000000);  // two restarts within a second differ
  events_ = std::fopen(events_path_.c_str(), "wb");
  if (!events_) throw file_error(events_path_, "", std::string("cannot open: ") + std::strerror(errno));
  write_event(event_header(now));
}

MetricsLog::~MetricsLog() {
  if (jsonl_) std::fclose(jsonl_);
  if (events_) std::fclose(events_);
}

void MetricsLog::write_event(const std::string& data) {
  // TFRecord: u64 length, masked CRC-32C of the length, data, masked CRC-32C of the data.
  std::string record;
  uint64_t len = data.size();
  record.append(reinterpret_cast<const char*>(&len), 8);
  uint32_t len_crc = masked_crc(&len, 8);
  record.append(reinterpret_cast<const char*>(&len_crc), 4);
  record += data;
  uint32_t data_crc = masked_crc(data.data(), data.size());
  record.append(reinterpret_cast<const char*>(&data_crc), 4);
  if (std::fwrite(record.data(), 1, record.size(), events_) != record.size() || std::fflush(events_) != 0)
    throw file_error(events_path_, "", std::string("write failed: ") + std::strerror(errno));
}

void MetricsLog::log(int64_t step, const std::map<std::string, double>& scalars) {
  nlohmann::ordered_json line;
  line["step"] = step;
  line["time"] = wall_time();
  for (const auto& [k, v] : scalars)
    line[k] = std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), jsonl_) != text.size() || std::fflush(jsonl_) != 0)
    throw file_error(jsonl_path_, "", std::string("write failed: ") + std::strerror(errno));
  write_event(scalar_event(line["time"].get<double>(), step, scalars));
}

}  // namespace grpo::learner
