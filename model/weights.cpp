#include "model/weights.h"

#include <regex>
#include <set>
#include <sstream>

#include "common/error.h"
#include "model/fp8_ops.h"

namespace grpo::model {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// Our module names (parameters and buffers) -> the tensors, before renaming.
std::vector<std::pair<std::string, torch::Tensor>> module_tensors(CausalLM& lm) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : lm->named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : lm->named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

// Appends "  name: problem" lines, at most `limit` of them, then a count of the rest.
void list(std::ostringstream& msg, const std::string& title, const std::vector<std::string>& lines, size_t limit = 40) {
  if (lines.empty()) return;
  msg << "\n" << title << " (" << lines.size() << "):";
  for (size_t i = 0; i < lines.size() && i < limit; ++i) msg << "\n  " << lines[i];
  if (lines.size() > limit) msg << "\n  ... and " << (lines.size() - limit) << " more";
}

}  // namespace

TensorSource tensor_source(const std::map<std::string, torch::Tensor>& tensors, const std::string& description) {
  TensorSource src;
  src.description = description;
  for (const auto& [name, t] : tensors) src.names.push_back(name);
  auto copy = std::make_shared<std::map<std::string, torch::Tensor>>(tensors);
  src.get = [copy](const std::string& name) { return copy->at(name); };
  return src;
}

std::string hf_name(const ModelConfig& config, const std::string& module_name) {
  static const std::regex mtp_re(R"(^mtp\.(\d+)\.(.*)$)");
  std::smatch m;
  if (std::regex_match(module_name, m, mtp_re))
    return "model.layers." + std::to_string(config.num_hidden_layers + std::stoll(m[1])) + "." + m[2].str();
  return module_name;
}

torch::Tensor dequantize_fp8_blocks(const torch::Tensor& weight, const torch::Tensor& scale_inv, int64_t block_rows,
                                    int64_t block_cols) {
  const int64_t rows = weight.size(0), cols = weight.size(1);
  // Scales multiply (spec §6.3); the grid is ceil(dim/128), so crop the expanded scales.
  auto s = scale_inv.to(torch::kFloat32)
               .repeat_interleave(block_rows, 0)
               .repeat_interleave(block_cols, 1)
               .narrow(0, 0, rows)
               .narrow(1, 0, cols);
  return weight.to(torch::kFloat32) * s;
}

LoadReport load_weights(CausalLM& lm, const TensorSource& source) {
  const ModelConfig& c = lm->config;
  LoadReport report;
  const std::string& where = source.description;

  // What the checkpoint offers, after undoing fused experts and FP8 scaling: name -> producer.
  std::map<std::string, std::function<torch::Tensor()>> available;
  std::set<std::string> names(source.names.begin(), source.names.end());
  std::vector<std::string> misshaped;
  static const std::regex fused_re(R"(^(.*\.mlp\.experts)\.(gate_up_proj|down_proj)$)");
  const int64_t block_rows = c.quantization_config ? c.quantization_config->weight_block_size[0] : 128;
  const int64_t block_cols = c.quantization_config ? c.quantization_config->weight_block_size[1] : 128;
  for (const std::string& name : names) {
    std::smatch m;
    if (std::regex_match(name, m, fused_re)) {
      report.fused_experts = true;
      const std::string prefix = m[1].str();
      const bool gate_up = m[2].str() == "gate_up_proj";
      auto get = source.get;
      const int64_t experts = c.n_routed_experts, inter = c.moe_intermediate_size;
      for (int64_t e = 0; e < experts; ++e) {
        const std::string base = prefix + "." + std::to_string(e) + ".";
        // gate_up_proj[e] is [2I, d] with gate rows first (transformers chunks it in two).
        auto slice = [get, name, e, experts, gate_up, inter, where](int64_t part) {
          torch::Tensor t = get(name);
          if (t.dim() != 3 || t.size(0) != experts || (gate_up && t.size(1) != 2 * inter))
            throw file_error(where, name,
                             "fused expert tensor has shape " + shape_str(t.sizes()) + ", expected " +
                                 (gate_up ? "[n_routed_experts, 2·moe_intermediate_size, hidden]"
                                          : "[n_routed_experts, hidden, moe_intermediate_size]"));
          return gate_up ? t[e].narrow(0, part * inter, inter) : t[e];
        };
        if (gate_up) {
          available[base + "gate_proj.weight"] = [slice] { return slice(0); };
          available[base + "up_proj.weight"] = [slice] { return slice(1); };
        } else {
          available[base + "down_proj.weight"] = [slice] { return slice(0); };
        }
      }
      continue;
    }
    const std::string scale_suffix = "_scale_inv";
    if (name.size() > scale_suffix.size() &&
        name.compare(name.size() - scale_suffix.size(), scale_suffix.size(), scale_suffix) == 0 &&
        names.count(name.substr(0, name.size() - scale_suffix.size())))
      continue;  // consumed with its weight below
    auto get = source.get;
    if (names.count(name + scale_suffix)) {
      const std::string scale_name = name + scale_suffix;
      available[name] = [get, name, scale_name, block_rows, block_cols, where] {
        torch::Tensor w = get(name), s = get(scale_name);
        if (w.element_size() != 1 || w.dim() != 2)
          throw file_error(where, name, "has a " + scale_name + " but is not a 2-D 1-byte (F8_E4M3) weight");
        const int64_t gr = (w.size(0) + block_rows - 1) / block_rows, gc = (w.size(1) + block_cols - 1) / block_cols;
        if (s.dim() != 2 || s.size(0) != gr || s.size(1) != gc)
          throw file_error(where, scale_name,
                           "has shape " + shape_str(s.sizes()) + ", expected [" + std::to_string(gr) + ", " +
                               std::to_string(gc) + "] (ceil(weight dims / block))");
        return dequantize_fp8_blocks(w.view(torch::kFloat8_e4m3fn), s, block_rows, block_cols);
      };
      ++report.fp8_weights;
      continue;
    }
    available[name] = [get, name] { return get(name); };
  }

  // Tensors a DeepSeek checkpoint carries that we do not keep: MTP copies of the shared
  // embedding/head, and rotary tables of older exports.
  auto ignorable = [&](const std::string& name) {
    for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
      const std::string p = "model.layers." + std::to_string(c.num_hidden_layers + k) + ".";
      if (name == p + "embed_tokens.weight" || name == p + "shared_head.head.weight") return true;
    }
    return name.size() >= 20 && name.compare(name.size() - 20, 20, "rotary_emb.inv_freq") == 0;
  };

  // Every tensor we own, grouped so that a whole absent MTP module can be tolerated.
  std::vector<std::pair<std::string, torch::Tensor>> wanted;
  for (auto& [name, t] : module_tensors(lm)) wanted.emplace_back(hf_name(c, name), t);
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const std::string p = "model.layers." + std::to_string(c.num_hidden_layers + k) + ".";
    bool any = false;
    for (const auto& [name, t] : wanted)
      if (name.rfind(p, 0) == 0 && available.count(name)) any = true;
    if (!any) report.mtp_not_loaded.push_back(k);
  }
  auto in_absent_mtp = [&](const std::string& name) {
    for (int64_t k : report.mtp_not_loaded)
      if (name.rfind("model.layers." + std::to_string(c.num_hidden_layers + k) + ".", 0) == 0) return true;
    return false;
  };

  std::vector<std::string> missing, unexpected;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  // FP8 layers of an FP8 model (model/fp8_linear.h): the weight and its weight_scale_inv buffer
  // are filled together, bit for bit from an FP8 checkpoint with 128x128 blocks, else by
  // quantizing what the checkpoint holds.
  const std::string scale_suffix = "_scale_inv";
  std::map<std::string, torch::Tensor> fp8_scale_targets;  // weight name -> its scale buffer
  for (auto& [name, target] : wanted)
    if (name.size() > scale_suffix.size() &&
        name.compare(name.size() - scale_suffix.size(), scale_suffix.size(), scale_suffix) == 0)
      fp8_scale_targets[name.substr(0, name.size() - scale_suffix.size())] = target;
  auto load_fp8 = [&](const std::string& name, torch::Tensor& target) {
    torch::Tensor scale_target = fp8_scale_targets.at(name);
    const bool raw = names.count(name) && names.count(name + scale_suffix) && block_rows == 128 && block_cols == 128;
    Fp8Matrix m;
    if (raw) {
      m = {source.get(name).view(torch::kFloat8_e4m3fn), source.get(name + scale_suffix).to(torch::kFloat32)};
      ++report.fp8_kept;
    } else {
      m = fp8_quantize_weight(available.at(name)());
      ++report.fp8_quantized;
    }
    if (m.q.sizes() != target.sizes() || m.scale.sizes() != scale_target.sizes()) {
      misshaped.push_back(name + ": has shape " + shape_str(m.q.sizes()) + " (scales " + shape_str(m.scale.sizes()) +
                          "), expected " + shape_str(target.sizes()) + " (scales " + shape_str(scale_target.sizes()) +
                          ")");
      return;
    }
    target.view(torch::kUInt8).copy_(m.q.view(torch::kUInt8));
    scale_target.copy_(m.scale);
  };
  for (auto& [name, target] : wanted) {
    if (name.size() > scale_suffix.size() &&
        name.compare(name.size() - scale_suffix.size(), scale_suffix.size(), scale_suffix) == 0 &&
        fp8_scale_targets.count(name.substr(0, name.size() - scale_suffix.size())))
      continue;  // filled with its FP8 weight
    auto it = available.find(name);
    if (target.scalar_type() == torch::kFloat8_e4m3fn && it != available.end() && fp8_scale_targets.count(name)) {
      used.insert(name);
      load_fp8(name, target);
      continue;
    }
    if (it == available.end()) {
      if (!in_absent_mtp(name)) missing.push_back(name + ": expected shape " + shape_str(target.sizes()));
      continue;
    }
    used.insert(name);
    torch::Tensor t = it->second();
    if (t.sizes() != target.sizes()) {
      misshaped.push_back(name + ": has shape " + shape_str(t.sizes()) + ", expected " + shape_str(target.sizes()));
      continue;
    }
    target.copy_(t.to(target.scalar_type()));
  }
  for (const auto& [name, fn] : available)
    if (!used.count(name) && !ignorable(name)) unexpected.push_back(name);

  if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
    std::ostringstream msg;
    msg << where << ": checkpoint does not match config.json (" << c.num_hidden_layers << " layers, "
        << c.n_routed_experts << " experts, hidden " << c.hidden_size << ")";
    list(msg, "missing tensors", missing);
    list(msg, "unexpected tensors", unexpected);
    list(msg, "tensors with the wrong shape", misshaped);
    msg << "\nfix: use the config.json the weights were saved with";
    throw Error(msg.str());
  }
  return report;
}

std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors(CausalLM& lm) {
  const ModelConfig& c = lm->config;
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : module_tensors(lm)) out[hf_name(c, name)] = t.detach();
  // DeepSeek stores the shared embedding and head again under each MTP layer (spec §5.3).
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const std::string p = "model.layers." + std::to_string(c.num_hidden_layers + k) + ".";
    out[p + "embed_tokens.weight"] = lm->model->embed_tokens->weight.detach();
    out[p + "shared_head.head.weight"] = lm->lm_head->weight.detach();
  }
  return {out.begin(), out.end()};
}

}  // namespace grpo::model
