#include "model/fp8_publish.h"

#include <cstring>

#include "common/error.h"
#include "model/fp8_linear.h"
#include "model/fp8_ops.h"
#include "model/weights.h"

namespace grpo::model {
namespace {

uint64_t append(std::vector<uint8_t>& data, const torch::Tensor& t) {
  auto c = t.contiguous().cpu();
  const uint64_t offset = (data.size() + 7) / 8 * 8;  // keep every entry 8-byte aligned
  const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
  data.resize(offset + bytes);
  if (bytes) std::memcpy(data.data() + offset, c.data_ptr(), bytes);
  return offset;
}

torch::Tensor view_bytes(const PublishedWeights& p, uint64_t offset, uint64_t bytes, std::vector<int64_t> shape,
                         torch::ScalarType dtype) {
  GRPO_CHECK(offset + bytes <= p.data.size(), "unpack_published: an entry runs past the end of the buffer");
  auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
  GRPO_CHECK(static_cast<uint64_t>(t.numel()) * t.element_size() == bytes,
             "unpack_published: an entry's byte count does not match its shape");
  if (bytes) std::memcpy(t.data_ptr(), p.data.data() + offset, bytes);
  return t;
}

}  // namespace

uint64_t PublishedWeights::scale_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += t.scale_bytes;
  return n;
}

PublishedWeights publish_weights(CausalLM& lm, PublishFormat format) {
  torch::NoGradGuard no_grad;
  const ModelConfig& c = lm->config;
  // FP8 layers of an FP8 model already hold their codes and scales: publish them as they are.
  std::map<std::string, Fp8Matrix> fp8_now;
  for (auto& [name, linear] : fp8_linears(lm))
    if (is_fp8(*linear)) fp8_now[name] = fp8_weight(*linear);

  PublishedWeights out;
  for (auto& [name, tensor] : checkpoint_tensors(lm)) {
    bool mtp_copy = false;
    for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
      const std::string p = "model.layers." + std::to_string(c.num_hidden_layers + k) + ".";
      mtp_copy |= name == p + "embed_tokens.weight" || name == p + "shared_head.head.weight";
    }
    const std::string scale_suffix = "_scale_inv";
    const bool is_scale = name.size() > scale_suffix.size() &&
                          name.compare(name.size() - scale_suffix.size(), scale_suffix.size(), scale_suffix) == 0;
    if (mtp_copy || is_scale) continue;

    PublishedTensor e;
    e.name = name;
    e.shape = tensor.sizes().vec();
    if (format == PublishFormat::kFp8 && is_fp8_weight_name(name)) {
      auto it = fp8_now.find(name);
      Fp8Matrix m = it != fp8_now.end() ? it->second : fp8_quantize_weight(tensor);
      e.dtype = torch::kFloat8_e4m3fn;
      e.offset = append(out.data, m.q.view(torch::kUInt8));
      e.bytes = static_cast<uint64_t>(m.q.numel());
      e.scale_offset = append(out.data, m.scale.to(torch::kFloat32));
      e.scale_bytes = static_cast<uint64_t>(m.scale.numel()) * 4;
    } else {
      auto it = fp8_now.find(name);
      torch::Tensor dense = it != fp8_now.end() ? fp8_dequantize_weight(it->second) : tensor;
      e.dtype = format == PublishFormat::kFp32 || (tensor.scalar_type() == torch::kFloat32 &&
                                                   name.find("e_score_correction_bias") != std::string::npos)
                    ? torch::kFloat32
                    : torch::kBFloat16;
      auto v = dense.to(e.dtype);
      e.offset = append(out.data, v);
      e.bytes = static_cast<uint64_t>(v.numel()) * v.element_size();
    }
    out.tensors.push_back(std::move(e));
  }
  return out;
}

std::map<std::string, torch::Tensor> unpack_published(const PublishedWeights& p) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& e : p.tensors) {
    out[e.name] = view_bytes(p, e.offset, e.bytes, e.shape, e.dtype);
    if (e.dtype == torch::kFloat8_e4m3fn) {
      GRPO_CHECK(e.shape.size() == 2, "unpack_published: FP8 entry " + e.name + " is not a matrix");
      out[e.name + "_scale_inv"] = view_bytes(p, e.scale_offset, e.scale_bytes,
                                              {(e.shape[0] + 127) / 128, (e.shape[1] + 127) / 128}, torch::kFloat32);
    }
  }
  return out;
}

}  // namespace grpo::model
