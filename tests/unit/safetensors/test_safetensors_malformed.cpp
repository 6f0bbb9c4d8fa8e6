// Every malformed file gives a grpo::Error naming the file, the tensor (when one is at fault)
// and the problem; never a crash or an out-of-bounds read (the fuzzer covers the rest).
#include <gtest/gtest.h>

#include "common/error.h"
#include "model/safetensors.h"
#include "st_test_util.h"

namespace grpo::safetensors {
namespace {

using testing::fresh_dir;
using testing::raw_file;
using testing::write_bytes;

struct Malformed {
  const char* label;    // also the file name
  std::string bytes;    // the whole file
  std::string tensor;   // tensor the message must name ("" when the header as a whole is bad)
  std::string problem;  // a phrase the message must contain
};

std::string f32_entry(const std::string& name, const std::string& shape, const std::string& offsets,
                      const std::string& dtype = "F32") {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

std::vector<Malformed> malformed_cases() {
  const std::string eight(8, '\0');
  const std::string ok = "{" + f32_entry("w", "[2]", "[0,8]") + "}";
  std::vector<Malformed> cases = {
      {"too_short", std::string("\x05\x00\x00", 3), "", "too short"},
      {"empty_file", "", "", "too short"},
      {"header_past_eof", raw_file(ok, eight, ok.size() + 100), "", "past the end"},
      {"header_too_large", raw_file("{}", "", 100'000'001), "", "exceeds"},
      {"data_truncated", raw_file(ok, std::string(4, '\0')), "w", "truncated"},
      {"trailing_bytes", raw_file(ok, std::string(12, '\0')), "w", "trailing bytes"},
      {"offsets_past_end", raw_file("{" + f32_entry("w", "[4]", "[0,16]") + "}", eight), "w", "truncated"},
      {"not_json", raw_file("{\"w\":", ""), "", "not valid JSON"},
      {"trailing_garbage", raw_file(ok + "x", eight), "", "not valid JSON"},
      {"nul_in_header", raw_file(ok + std::string(1, '\0'), eight), "", "NUL"},
      {"not_object", raw_file("[1,2]", ""), "", "must be a JSON object"},
      {"bad_utf8", raw_file("{" + f32_entry("w\xff", "[2]", "[0,8]") + "}", eight), "", "not valid JSON"},
      {"unknown_dtype", raw_file("{" + f32_entry("w", "[2]", "[0,8]", "F33") + "}", eight), "w", "unknown dtype"},
      {"lowercase_dtype", raw_file("{" + f32_entry("w", "[2]", "[0,8]", "f32") + "}", eight), "w", "unknown dtype"},
      {"size_mismatch", raw_file("{" + f32_entry("w", "[3]", "[0,8]") + "}", eight), "w", "needs 12 bytes"},
      {"negative_dim", raw_file("{" + f32_entry("w", "[-2]", "[0,8]") + "}", eight), "w", "negative"},
      {"float_dim", raw_file("{" + f32_entry("w", "[2.0]", "[0,8]") + "}", eight), "w", "non-negative integer"},
      {"shape_overflow", raw_file("{" + f32_entry("w", "[4611686018427387904,8]", "[0,8]") + "}", eight), "w",
       "overflows"},
      {"overlap", raw_file("{" + f32_entry("a", "[2]", "[0,8]") + "," + f32_entry("b", "[1]", "[4,8]") + "}", eight),
       "b", "gaps or overlaps"},
      {"hole",
       raw_file("{" + f32_entry("a", "[1]", "[0,4]") + "," + f32_entry("b", "[1]", "[8,12]") + "}",
                std::string(12, '\0')),
       "b", "gaps or overlaps"},
      {"hole_at_start", raw_file("{" + f32_entry("w", "[1]", "[4,8]") + "}", eight), "w", "must start at byte 0"},
      {"end_before_begin", raw_file("{" + f32_entry("w", "[0]", "[8,0]") + "}", eight), "w", "gaps or overlaps"},
      {"huge_offsets",
       raw_file("{" + f32_entry("w", "[2]", "[18446744073709551615,18446744073709551615]") + "}", eight), "w",
       "must start at byte 0"},
      {"offsets_three", raw_file("{" + f32_entry("w", "[2]", "[0,8,9]") + "}", eight), "w", "[begin, end]"},
      {"duplicate_name",
       raw_file("{" + f32_entry("w", "[1]", "[0,4]") + "," + f32_entry("w", "[2]", "[0,8]") + "}", eight), "w",
       "twice"},
      {"duplicate_field",
       raw_file("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "",
       "duplicate key \"dtype\""},
      {"missing_dtype", raw_file("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "w", "missing field"},
      {"missing_shape", raw_file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", eight), "w", "missing field"},
      {"dtype_not_string", raw_file("{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "w",
       "must be a string"},
      {"tensor_not_object", raw_file("{\"w\":5}", ""), "w", "expected an object"},
      {"metadata_int_value", raw_file("{\"__metadata__\":{\"format\":1}}", ""), "",
       "__metadata__.format: metadata values must be strings"},
      {"metadata_null_value", raw_file("{\"__metadata__\":{\"format\":null}}", ""), "",
       "__metadata__.format: metadata values must be strings"},
      {"metadata_list", raw_file("{\"__metadata__\":[\"pt\"]}", ""), "", "\"__metadata__\" must be an object"},
      {"subbyte_partial", raw_file("{" + f32_entry("w", "[3]", "[0,2]", "F4") + "}", std::string(2, '\0')), "w",
       "whole bytes"},
      {"deep_nesting", raw_file("{\"w\":{\"x\":" + std::string(200, '[') + std::string(200, ']') + "}}", ""), "",
       "nested deeper"},
  };
  return cases;
}

TEST(SafetensorsMalformed, EveryCaseNamesFileTensorAndProblem) {
  auto dir = fresh_dir("malformed");
  for (const auto& c : malformed_cases()) {
    SCOPED_TRACE(c.label);
    std::string path = (dir / (std::string(c.label) + ".safetensors")).string();
    write_bytes(path, c.bytes);
    try {
      File::open(path);
      ADD_FAILURE() << c.label << ": no error";
    } catch (const grpo::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      if (!c.tensor.empty()) EXPECT_NE(msg.find("\"" + c.tensor + "\""), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.problem), std::string::npos) << msg;
    }
  }
}

// parse_header works on any buffer; it must not read past what it is given, even when the
// declared header length says otherwise (AddressSanitizer in the fuzz build checks the same).
TEST(SafetensorsMalformed, ParseHeaderStaysInsideTheBuffer) {
  std::string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  std::string file = raw_file(header, std::string(8, '\0'));
  for (size_t cut = 0; cut < file.size(); ++cut) {
    std::string prefix = file.substr(0, cut);  // a truncated file, exactly `cut` bytes long
    EXPECT_THROW(parse_header(prefix.data(), prefix.size(), prefix.size(), "cut.safetensors"), grpo::Error)
        << "cut at " << cut;
  }
  Header h = parse_header(file.data(), file.size(), file.size(), "whole.safetensors");
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.data_start, 8 + header.size());
}

// What Python's safetensors 0.8 accepts, we accept too (checked against Python by
// tests/reference/test_safetensors.py): JSON whitespace around the object, unknown extra keys,
// a null __metadata__, zero-size tensors sharing an offset, empty names, escaped names.
TEST(SafetensorsMalformed, AcceptsWhatPythonAccepts) {
  auto dir = fresh_dir("accepted");
  const std::string eight(8, '\0');
  std::vector<std::pair<std::string, std::string>> ok = {
      {"leading_space", raw_file(" {" + f32_entry("w", "[2]", "[0,8]") + "}\n", eight)},
      {"extra_key", raw_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":[1]}}", eight)},
      {"null_metadata", raw_file("{\"__metadata__\":null}", "")},
      {"empty_header", raw_file("{}", "")},
      {"zero_size_shared",
       raw_file("{" + f32_entry("a", "[0]", "[0,0]") + "," + f32_entry("b", "[0,3]", "[0,0]") + "}", "")},
      {"empty_name", raw_file("{" + f32_entry("", "[2]", "[0,8]") + "}", eight)},
      {"escaped_name", raw_file("{" + f32_entry("a\\u0041", "[2]", "[0,8]") + "}", eight)},
  };
  for (const auto& [label, bytes] : ok) {
    SCOPED_TRACE(label);
    std::string path = (dir / (label + ".safetensors")).string();
    write_bytes(path, bytes);
    EXPECT_NO_THROW(File::open(path));
  }
  File escaped = File::open((dir / "escaped_name.safetensors").string());
  EXPECT_NE(escaped.find("aA"), nullptr);
}

TEST(SafetensorsMalformed, UnknownTensorAndTorchlessDtypeNameFileAndTensor) {
  auto dir = fresh_dir("lookup");
  std::string path = (dir / "f4.safetensors").string();
  write_bytes(path, raw_file("{" + f32_entry("packed", "[4]", "[0,2]", "F4") + "}", std::string(2, '\0')));
  File f = File::open(path);
  try {
    f.tensor("packed");
    ADD_FAILURE() << "F4 has no torch dtype";
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("\"packed\""), std::string::npos);
  }
  try {
    f.tensor("absent");
    ADD_FAILURE() << "unknown name";
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"absent\""), std::string::npos);
  }
}

TEST(SafetensorsMalformed, MissingFileAndFolderNamePath) {
  auto dir = fresh_dir("missing");
  std::string path = (dir / "nope.safetensors").string();
  try {
    File::open(path);
    ADD_FAILURE();
  } catch (const grpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  EXPECT_THROW(File::open(dir.string()), grpo::Error) << "a folder is not a file";
}

}  // namespace
}  // namespace grpo::safetensors
