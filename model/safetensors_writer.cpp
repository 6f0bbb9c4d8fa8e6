// Writing one .safetensors file, byte-identical to Python's safetensors.torch.save_file.
#include "common/atomic_file.h"
#include "common/error.h"
#include "model/safetensors.h"

namespace grpo::safetensors {

void save_file(const std::string& path, const NamedTensors& tensors,
               const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> data;  // CPU, contiguous: the exact bytes to write
  std::vector<TensorSpec> specs;
  data.reserve(tensors.size());
  specs.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) throw file_error(path, "tensor \"" + name + "\"", "tensor is undefined");
    if (tensor.layout() != torch::kStrided)
      throw file_error(path, "tensor \"" + name + "\"", "only dense (strided) tensors can be saved");
    TensorSpec spec;
    spec.name = name;
    spec.dtype = from_torch(tensor.scalar_type(), path, name);
    for (int64_t d : tensor.sizes()) spec.shape.push_back(static_cast<uint64_t>(d));
    torch::Tensor cpu = tensor.to(torch::kCPU).contiguous();
    spec.nbytes = cpu.nbytes();
    specs.push_back(std::move(spec));
    data.push_back(std::move(cpu));
  }
  Layout layout = plan_layout(specs, metadata, path);
  write_file_atomic_stream(path, [&](const ByteSink& sink) {
    sink(layout.header.data(), layout.header.size());
    for (size_t i : layout.order)
      if (specs[i].nbytes) sink(data[i].data_ptr(), specs[i].nbytes);
  });
}

}  // namespace grpo::safetensors
