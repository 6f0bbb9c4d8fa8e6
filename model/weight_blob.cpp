#include "model/weight_blob.h"

#include <cstring>

#include "common/error.h"

namespace grpo::model {
namespace {

std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "F32";
    case torch::kBFloat16:
      return "BF16";
    case torch::kFloat8_e4m3fn:
      return "F8_E4M3";
    default:
      throw Error(std::string("weight blob: dtype ") + c10::toString(t) + " is not publishable");
  }
}

torch::ScalarType dtype_of(const std::string& name, const std::string& tensor) {
  if (name == "F32") return torch::kFloat32;
  if (name == "BF16") return torch::kBFloat16;
  if (name == "F8_E4M3") return torch::kFloat8_e4m3fn;
  throw WeightBlobError("weight blob: tensor " + tensor + ": dtype \"" + name + "\" is not one of F32, BF16, F8_E4M3");
}

}  // namespace

PublishFormat parse_publish_format(const std::string& name, const std::string& field) {
  if (name == "fp32") return PublishFormat::kFp32;
  if (name == "bf16") return PublishFormat::kBf16;
  if (name == "fp8") return PublishFormat::kFp8;
  throw Error(field + ": \"" + name + "\" is not one of \"fp32\", \"bf16\", \"fp8\"");
}

std::string publish_format_name(PublishFormat format) {
  switch (format) {
    case PublishFormat::kFp32:
      return "fp32";
    case PublishFormat::kBf16:
      return "bf16";
    case PublishFormat::kFp8:
      return "fp8";
  }
  return "?";
}

grpo::WeightBlob to_blob(PublishedWeights published, PublishFormat format, uint64_t version) {
  grpo::WeightBlob blob;
  blob.version = version;
  blob.format = publish_format_name(format);
  for (const auto& t : published.tensors) {
    nlohmann::json e = {
        {"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"offset", t.offset}, {"bytes", t.bytes}};
    if (t.scale_bytes) {
      e["scale_offset"] = t.scale_offset;
      e["scale_bytes"] = t.scale_bytes;
    }
    blob.table.push_back(std::move(e));
  }
  blob.data = std::move(published.data);
  blob.sha256 = grpo::sha256_hex(blob.data.data(), blob.data.size());
  return blob;
}

grpo::WeightBlob publish_blob(CausalLM& lm, PublishFormat format, uint64_t version) {
  return to_blob(publish_weights(lm, format), format, version);
}

PublishedWeights from_blob(const grpo::WeightBlob& blob) {
  const std::string where = "weight version " + std::to_string(blob.version);
  if (!blob.table.is_array()) throw WeightBlobError(where + ": the tensor table is not a JSON array");
  PublishedWeights p;
  p.tensors.reserve(blob.table.size());
  try {
    for (const auto& e : blob.table) {
      PublishedTensor t;
      t.name = e.at("name").get<std::string>();
      t.dtype = dtype_of(e.at("dtype").get<std::string>(), t.name);
      t.shape = e.at("shape").get<std::vector<int64_t>>();
      t.offset = e.at("offset").get<uint64_t>();
      t.bytes = e.at("bytes").get<uint64_t>();
      t.scale_offset = e.value("scale_offset", uint64_t{0});
      t.scale_bytes = e.value("scale_bytes", uint64_t{0});
      // Bounds are checked here with the tensor's name; unpack_published checks shapes vs bytes.
      if (t.offset > blob.data.size() || t.bytes > blob.data.size() - t.offset || t.scale_offset > blob.data.size() ||
          t.scale_bytes > blob.data.size() - t.scale_offset)
        throw WeightBlobError(where + ": tensor " + t.name + " runs past the end of the " +
                              std::to_string(blob.data.size()) + "-byte buffer");
      p.tensors.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    throw WeightBlobError(where + ": bad tensor table entry: " + e.what());
  }
  // PublishedWeights owns its bytes; one copy, which unpack_published needs anyway.
  p.data = blob.data;
  return p;
}

LoadReport load_blob(CausalLM& lm, const grpo::WeightBlob& blob) {
  torch::NoGradGuard no_grad;
  return load_weights(lm, tensor_source(unpack_published(from_blob(blob)),
                                        "published weights (version " + std::to_string(blob.version) + ")"));
}

std::string weights_sha256(CausalLM& lm) {
  // Hash of per-tensor hashes: one pass over each tensor's bytes, no giant concatenation.
  std::string manifest;
  for (const auto& [name, tensor] : checkpoint_tensors(lm)) {
    const torch::Tensor t = tensor.detach().contiguous().cpu();
    manifest += name;
    manifest += ' ';
    manifest += c10::toString(t.scalar_type());
    for (int64_t d : t.sizes()) manifest += " " + std::to_string(d);
    manifest += ' ';
    manifest += grpo::sha256_hex(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
    manifest += '\n';
  }
  return grpo::sha256_hex(manifest.data(), manifest.size());
}

}  // namespace grpo::model
