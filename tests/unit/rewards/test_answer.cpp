// Answer extraction and math equivalence on the inputs graders get wrong.
#include <gtest/gtest.h>

#include "rewards/answer.h"

using namespace grpo::rewards;

TEST(Boxed, NestedBracesAndTheLastOne) {
  EXPECT_EQ(last_boxed("so \\boxed{1} or rather \\boxed{\\frac{1}{2}}."), "\\frac{1}{2}");
  EXPECT_EQ(last_boxed("\\boxed{\\left\\{ x \\mid x^{2} > 1 \\right\\}}"), "\\left\\{ x \\mid x^{2} > 1 \\right\\}");
  EXPECT_EQ(last_boxed("$\\boxed{{a}{b}}$"), "{a}{b}");
  EXPECT_EQ(last_boxed("\\fbox{7}"), "7");
}

TEST(Boxed, SpaceFormAndMissing) {
  EXPECT_EQ(last_boxed("the answer is $\\boxed 5$."), "5");
  EXPECT_EQ(last_boxed("\\boxed 12 apples"), "12");
  EXPECT_EQ(last_boxed("\\boxed5"), "5");
  EXPECT_EQ(last_boxed("no box here"), std::nullopt);
  EXPECT_EQ(last_boxed("truncated \\boxed{\\frac{1}{2"), std::nullopt);
  EXPECT_EQ(last_boxed("\\boxed{}"), "");
}

TEST(Hashes, Gsm8k) {
  EXPECT_EQ(after_hashes("She pays 3*4 = 12.\n#### 12"), "12");
  EXPECT_EQ(after_hashes("#### 1 \n#### 1,000  \nmore text"), "1,000");
  EXPECT_EQ(after_hashes("no marker"), std::nullopt);
  EXPECT_EQ(after_hashes("####   \n"), std::nullopt);
}

TEST(LastNumber, SignsSeparatorsAndPunctuation) {
  EXPECT_EQ(last_number("I had 3 and got 1,000."), "1,000");
  EXPECT_EQ(last_number("temperature is -0.5 today"), "-0.5");
  EXPECT_EQ(last_number("3-4 equals"), "4");  // a minus between terms is not a sign
  EXPECT_EQ(last_number("about 6.02e23 atoms"), "6.02e23");
  EXPECT_EQ(last_number("3eggs"), "3");
  EXPECT_EQ(last_number("lists 1, 2, 3."), "3");
  EXPECT_EQ(last_number("value .5!"), ".5");
  EXPECT_EQ(last_number("no digits"), std::nullopt);
}

TEST(ParseNumber, ExactRationals) {
  auto half = parse_number("\\frac{1}{2}");
  ASSERT_TRUE(half);
  EXPECT_TRUE(half->exact);
  EXPECT_EQ(half->num, 1);
  EXPECT_EQ(half->den, 2);
  EXPECT_EQ(number_text(*parse_number("0.125")), "1/8");
  EXPECT_EQ(number_text(*parse_number("-\\dfrac{6}{4}")), "-3/2");
  EXPECT_EQ(number_text(*parse_number("\\frac{-6}{4}")), "-3/2");
  EXPECT_EQ(number_text(*parse_number("\\tfrac12")), "1/2");
  EXPECT_EQ(number_text(*parse_number("3/4")), "3/4");
  EXPECT_EQ(number_text(*parse_number("1,234,567")), "1234567");
  EXPECT_EQ(number_text(*parse_number("-0")), "0");
  EXPECT_EQ(number_text(*parse_number("+7")), "7");
  EXPECT_EQ(number_text(*parse_number("1.5e3")), "1500");
  EXPECT_EQ(number_text(*parse_number("2.5E-2")), "1/40");
  EXPECT_EQ(number_text(*parse_number("1.5\\times 10^{3}")), "1500");
  EXPECT_EQ(number_text(*parse_number("$\\left( 12 \\right)$.")), "12");
  EXPECT_EQ(number_text(*parse_number("5 \\text{ cm}")), "5");
  EXPECT_EQ(number_text(*parse_number("\\text{42}")), "42");
  EXPECT_EQ(number_text(*parse_number("1{,}000")), "1000");
  EXPECT_EQ(number_text(*parse_number("\\$18.00")), "18");
}

TEST(ParseNumber, PercentAndNonNumbers) {
  auto p = parse_number("50\\%");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->percent);
  EXPECT_EQ(number_text(*p), "50");
  EXPECT_FALSE(parse_number("x + 1"));
  EXPECT_FALSE(parse_number("1,00"));  // not a thousands grouping
  EXPECT_FALSE(parse_number("1,0000"));
  EXPECT_FALSE(parse_number("\\frac{1}{0}"));
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("."));
}

TEST(ParseNumber, HugeValuesFallBackToDoubles) {
  auto big = parse_number("1e300");
  ASSERT_TRUE(big);
  EXPECT_FALSE(big->exact);
  EXPECT_DOUBLE_EQ(big->value, 1e300);
  EXPECT_FALSE(parse_number("1e9999"));  // inf is not an answer
}

TEST(MathEqual, TheUsualSuspects) {
  EXPECT_TRUE(math_equal("1,000", "1000"));
  EXPECT_TRUE(math_equal("0.5", "\\frac{1}{2}"));
  EXPECT_TRUE(math_equal("\\dfrac{2}{4}", "0.50"));
  EXPECT_TRUE(math_equal("-0", "0"));
  EXPECT_TRUE(math_equal("1e3", "1000"));
  EXPECT_TRUE(math_equal("1000.", "1000"));
  EXPECT_TRUE(math_equal("12.", "$12$"));
  EXPECT_TRUE(math_equal("50\\%", "0.5"));
  EXPECT_TRUE(math_equal("50%", "50"));
  EXPECT_TRUE(math_equal("\\left( 3 \\right)", "3"));
  EXPECT_FALSE(math_equal("0.333333", "\\frac{1}{3}"));  // exact: a rounded decimal is not 1/3
  EXPECT_FALSE(math_equal("1000", "1001"));
  EXPECT_FALSE(math_equal("-1", "1"));
  EXPECT_FALSE(math_equal("", ""));
  EXPECT_FALSE(math_equal("5", "x"));
}

TEST(MathEqual, TextAnswers) {
  EXPECT_TRUE(math_equal("x + 1", "x+1"));
  EXPECT_TRUE(math_equal("\\dfrac{\\pi}{2}", "\\frac{\\pi}{2}"));
  EXPECT_TRUE(math_equal("\\left[ 1, 2 \\right]", "[1,2]"));
  EXPECT_FALSE(math_equal("(1,2)", "[1,2]"));
}

TEST(ThinkFormat, Shapes) {
  EXPECT_TRUE(think_format("<think>let me see</think> 42"));
  EXPECT_TRUE(think_format("  \n<think>\na\n</think>\n\\boxed{1}"));
  EXPECT_FALSE(think_format("<think>no end"));
  EXPECT_FALSE(think_format("answer first <think>x</think> 1"));
  EXPECT_FALSE(think_format("<think>a</think><think>b</think> 1"));
  EXPECT_FALSE(think_format("<think>a</think> 1 </think>"));
  EXPECT_FALSE(think_format("<think>a</think>   "));
  EXPECT_EQ(after_think("<think>a</think> 42"), " 42");
  EXPECT_EQ(after_think("42"), std::nullopt);
}
