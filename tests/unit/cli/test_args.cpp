#include <gtest/gtest.h>

#include "cli/args.h"

using grpo::cli::Args;
using grpo::cli::Flag;
using grpo::cli::UsageError;

namespace {
const std::vector<Flag> kFlags = {
    {"--seed", true, "random seed"}, {"--json", false, "JSON output"}, {"--temperature", true, ""}};
}

TEST(Args, ParsesValuesFlagsAndPositionals) {
  Args a("generate", kFlags, {"ckpt", "--seed", "7", "--json", "--temperature=0.5", "extra"});
  EXPECT_EQ(a.get_int("--seed", 0), 7);
  EXPECT_TRUE(a.has("--json"));
  EXPECT_DOUBLE_EQ(a.get_double("--temperature", 1.0), 0.5);
  ASSERT_EQ(a.positional().size(), 2u);
  EXPECT_EQ(a.positional_at(0, "CKPT"), "ckpt");
  EXPECT_EQ(a.get("--missing", "dflt"), "dflt");
}

TEST(Args, UnknownFlagNamesItAndTheKnownOnes) {
  try {
    Args a("generate", kFlags, {"--sed", "7"});
    FAIL();
  } catch (const UsageError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("--sed"), std::string::npos) << m;
    EXPECT_NE(m.find("--seed"), std::string::npos) << m;
  }
}

TEST(Args, MissingValueAndBadNumbersAreUsageErrors) {
  EXPECT_THROW(Args("g", kFlags, {"--seed"}), UsageError);
  EXPECT_THROW(Args("g", kFlags, {"--json=1"}), UsageError);
  Args a("g", kFlags, {"--seed", "7x", "--temperature", "hot"});
  EXPECT_THROW(a.get_int("--seed", 0), UsageError);
  EXPECT_THROW(a.get_double("--temperature", 0), UsageError);
  EXPECT_THROW(a.positional_at(0, "CKPT"), UsageError);
  EXPECT_THROW(a.require("--json"), UsageError);
}

TEST(Args, DoubleDashEndsFlags) {
  Args a("g", kFlags, {"--", "--seed"});
  ASSERT_EQ(a.positional().size(), 1u);
  EXPECT_EQ(a.positional()[0], "--seed");
}

TEST(Args, RequireExistsNamesThePath) {
  try {
    grpo::cli::require_exists("/no/such/ckpt", "checkpoint folder");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/ckpt"), std::string::npos);
  }
}
