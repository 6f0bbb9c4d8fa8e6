// Round trips through our writer and reader, zero-copy mapping, and the writer's exact bytes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>

#include "common/error.h"
#include "model/safetensors.h"
#include "st_test_util.h"

namespace grpo::safetensors {
namespace {

using testing::fresh_dir;
using testing::raw_file;
using testing::read_bytes;
using testing::write_bytes;

// Raw bytes of a tensor (contiguous, CPU): the round trip must be bit-exact, NaNs included.
std::string bytes_of(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

// Random bytes viewed as `dtype`, so every bit pattern of every dtype is exercised.
torch::Tensor random_tensor(torch::ScalarType dtype, std::vector<int64_t> shape, int64_t seed) {
  torch::manual_seed(seed);
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (dtype == torch::kBool) return torch::randint(0, 2, shape, torch::kUInt8).to(torch::kBool);
  int64_t elem = c10::elementSize(dtype);
  torch::Tensor raw = torch::randint(0, 256, {numel * elem}, torch::kUInt8);
  return raw.view(dtype).reshape(shape);
}

const std::vector<torch::ScalarType> kAllDtypes = {
    torch::kFloat64,     torch::kFloat32,        torch::kFloat16, torch::kBFloat16, torch::kFloat8_e4m3fn,
    torch::kFloat8_e5m2, torch::kFloat8_e8m0fnu, torch::kInt64,   torch::kInt32,    torch::kInt16,
    torch::kInt8,        torch::kUInt8,          torch::kBool,    torch::kUInt16,   torch::kUInt32,
    torch::kUInt64,      torch::kComplexFloat};

TEST(SafetensorsIO, RoundTripsEveryDtypeAndShape) {
  auto dir = fresh_dir("roundtrip");
  const std::vector<std::vector<int64_t>> shapes = {{3, 5}, {}, {0, 4}, {2, 3, 7}, {1}};
  NamedTensors tensors;
  int64_t seed = 0;
  for (auto dtype : kAllDtypes)
    for (const auto& shape : shapes)
      tensors.emplace_back(
          std::string(c10::toString(dtype)) + ".r" + std::to_string(shape.size()) + "." + std::to_string(seed),
          random_tensor(dtype, shape, seed++));
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "quote \" backslash \\ newline \n é"}};
  std::string path = (dir / "all.safetensors").string();
  save_file(path, tensors, meta);

  File f = File::open(path);
  EXPECT_EQ(f.metadata(), meta);
  ASSERT_EQ(f.tensors().size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    SCOPED_TRACE(name);
    torch::Tensor got = f.tensor(name);
    EXPECT_EQ(got.scalar_type(), expected.scalar_type());
    EXPECT_EQ(got.sizes(), expected.sizes());
    EXPECT_EQ(bytes_of(got), bytes_of(expected));
  }
}

TEST(SafetensorsIO, DtypeNamesMatchTheFormat) {
  EXPECT_EQ(from_torch(torch::kFloat8_e4m3fn, "", ""), DType::F8_E4M3);
  EXPECT_EQ(from_torch(torch::kBFloat16, "", ""), DType::BF16);
  EXPECT_EQ(from_torch(torch::kBool, "", ""), DType::BOOL);
  EXPECT_EQ(to_torch(DType::F8_E4M3, "", ""), torch::kFloat8_e4m3fn);
  EXPECT_EQ(dtype_name(DType::F8_E4M3), "F8_E4M3");
  EXPECT_EQ(dtype_from_name("BF16"), DType::BF16);
  EXPECT_FALSE(dtype_from_name("bf16").has_value());
  EXPECT_THROW(from_torch(torch::kComplexDouble, "x.safetensors", "z"), grpo::Error);
}

TEST(SafetensorsIO, AlignedTensorsPointIntoTheMappingAndKeepItAlive) {
  auto dir = fresh_dir("zerocopy");
  std::string path = (dir / "z.safetensors").string();
  torch::Tensor w = torch::arange(12, torch::kFloat32).reshape({3, 4});
  torch::Tensor d = torch::arange(5, torch::kFloat64);
  torch::Tensor b = torch::arange(7, torch::kFloat32).to(torch::kBFloat16);
  save_file(path, {{"w", w}, {"d", d}, {"b", b}});
  const std::string on_disk = read_bytes(path);

  torch::Tensor got_w, got_d, got_b;
  {
    File f = File::open(path);
    const unsigned char* lo = f.mapped_data();
    const unsigned char* hi = lo + f.mapped_size();
    got_w = f.tensor("w");
    got_d = f.tensor("d");
    got_b = f.tensor("b");
    for (const auto& t : {got_w, got_d, got_b}) {
      auto* p = static_cast<const unsigned char*>(t.data_ptr());
      EXPECT_TRUE(p >= lo && p + t.nbytes() <= hi) << "tensor was copied instead of mapped";
    }
  }  // the File is gone; the tensors hold the mapping
  EXPECT_TRUE(torch::equal(got_w, w));
  EXPECT_TRUE(torch::equal(got_d, d));
  EXPECT_TRUE(torch::equal(got_b, b));

  got_w.mul_(2);  // copy-on-write mapping: the file must not change
  EXPECT_EQ(read_bytes(path), on_disk);
}

TEST(SafetensorsIO, MisalignedDataIsCopied) {
  auto dir = fresh_dir("misaligned");
  std::string path = (dir / "m.safetensors").string();
  // An unpadded 54-byte header puts the F32 data at file offset 62: not 4-byte aligned.
  std::string header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  ASSERT_NE((8 + header.size()) % alignof(float), 0u);
  float values[2] = {1.5f, -2.25f};
  write_bytes(path, raw_file(header, std::string(reinterpret_cast<const char*>(values), 8)));
  File f = File::open(path);
  torch::Tensor t = f.tensor("a");
  auto* p = static_cast<const unsigned char*>(t.data_ptr());
  EXPECT_FALSE(p >= f.mapped_data() && p < f.mapped_data() + f.mapped_size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignof(float), 0u);
  EXPECT_EQ(t[0].item<float>(), 1.5f);
  EXPECT_EQ(t[1].item<float>(), -2.25f);
}

// The exact bytes of the safetensors crate's own serialisation tests (tensor.rs,
// test_serialization and test_serialization_forced_alignement): a 64-byte header that needs no
// padding, and a 65-byte one padded with 7 spaces.
TEST(SafetensorsIO, WriterBytesMatchTheReferenceImplementation) {
  auto dir = fresh_dir("golden");
  torch::Tensor x = torch::arange(6, torch::kFloat32);
  std::string data(reinterpret_cast<const char*>(x.data_ptr()), 24);

  std::string p1 = (dir / "a.safetensors").string();
  save_file(p1, {{"attn.0", x.reshape({1, 2, 3})}});
  std::string h1 = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(h1.size(), 64u);
  EXPECT_EQ(read_bytes(p1), raw_file(h1, data));

  std::string p2 = (dir / "b.safetensors").string();
  save_file(p2, {{"attn0", x.reshape({1, 1, 2, 3})}});
  std::string h2 = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
  EXPECT_EQ(read_bytes(p2), raw_file(h2 + std::string(7, ' '), data));

  std::string p3 = (dir / "empty.safetensors").string();
  save_file(p3, {}, {{"framework", "pt"}});
  EXPECT_EQ(read_bytes(p3), raw_file(R"({"__metadata__":{"framework":"pt"}})" + std::string(5, ' '), ""));
}

TEST(SafetensorsIO, WriterOrdersByDescendingDtypeThenName) {
  auto dir = fresh_dir("order");
  std::string path = (dir / "o.safetensors").string();
  save_file(path, {{"z", torch::zeros({1}, torch::kBool)},
                   {"b", torch::zeros({1}, torch::kFloat32)},
                   {"a", torch::zeros({1}, torch::kFloat32)},
                   {"e", torch::zeros({1}, torch::kFloat8_e4m3fn)},
                   {"s", torch::zeros({1}, torch::kFloat32)},
                   {"i", torch::zeros({1}, torch::kInt64)},
                   {"h", torch::zeros({1}, torch::kBFloat16)},
                   {"g", torch::zeros({1}, torch::kFloat16)}});
  File f = File::open(path);
  std::vector<std::string> order;
  for (const auto& t : f.tensors()) order.push_back(t.name);
  // I64 > F32 > BF16 > F16 > F8_E4M3 > BOOL in safetensors' Dtype enum; names break ties.
  EXPECT_EQ(order, (std::vector<std::string>{"i", "a", "b", "s", "h", "g", "e", "z"}));
  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u) << "data must start 8-byte aligned";
}

TEST(SafetensorsIO, WritesStridedTensorsContiguously) {
  auto dir = fresh_dir("strided");
  std::string path = (dir / "s.safetensors").string();
  torch::Tensor base = torch::arange(12, torch::kInt32).reshape({3, 4});
  torch::Tensor t = base.t();                                        // [4, 3], non-contiguous
  torch::Tensor sliced = base.index({torch::indexing::Slice(), 1});  // [3], stride 4
  save_file(path, {{"t", t}, {"col", sliced}});
  File f = File::open(path);
  EXPECT_TRUE(torch::equal(f.tensor("t"), t));
  EXPECT_TRUE(torch::equal(f.tensor("col"), sliced));
}

TEST(SafetensorsIO, WriterRejectsBadInputAndLeavesNoFile) {
  auto dir = fresh_dir("writer_bad");
  std::string path = (dir / "bad.safetensors").string();
  auto expect_error = [&](const NamedTensors& tensors, const std::string& name) {
    try {
      save_file(path, tensors);
      ADD_FAILURE() << "expected an error for " << name;
    } catch (const grpo::Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("\"" + name + "\""), std::string::npos) << e.what();
    }
  };
  expect_error({{"w", torch::zeros({1})}, {"w", torch::zeros({2})}}, "w");
  expect_error({{"__metadata__", torch::zeros({1})}}, "__metadata__");
  expect_error({{"bad\xff", torch::zeros({1})}}, "bad\xff");
  expect_error({{"c128", torch::zeros({1}, torch::kComplexDouble)}}, "c128");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "no temporary file may be left behind";
}

TEST(SafetensorsIO, OverwriteIsAtomic) {
  auto dir = fresh_dir("overwrite");
  std::string path = (dir / "w.safetensors").string();
  save_file(path, {{"x", torch::ones({2})}});
  save_file(path, {{"y", torch::zeros({3})}});
  File f = File::open(path);
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.tensors()[0].name, "y");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

}  // namespace
}  // namespace grpo::safetensors
