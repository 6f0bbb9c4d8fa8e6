// PagedLatentCache: the byte budget decides the page count, pages are handed out and taken back,
// and a position maps to its page's slot (slot 0 is scratch).
#include <gtest/gtest.h>

#include <set>

#include "../model/model_test_util.h"
#include "model/latent_cache.h"
#include "rollout/paged_forward.h"

using namespace grpo;

TEST(PagedCache, BudgetPagesAndSlots) {
  auto c = model::mtest::micro_config();
  // (16 + 4) × 3 layers × 4 B = 240 B per token; 10 pages of 4 positions = 9,600 B (+ a bit).
  auto cache = model::PagedLatentCache::allocate(c, 3, 9600 + 100, 4, torch::kFloat32);
  EXPECT_EQ(cache.bytes_per_token(), 240);
  EXPECT_EQ(cache.num_pages(), 10);
  EXPECT_EQ(cache.pages_free(), 10);
  EXPECT_EQ(cache.kv.size(), 3u);
  EXPECT_EQ(cache.kv[0].size(0), 41);  // 1 scratch + 10 × 4
  EXPECT_EQ(cache.pages_for(9), 3);
  auto a = cache.take(3);
  auto b = cache.take(7);
  EXPECT_EQ(cache.pages_free(), 0);
  EXPECT_EQ(cache.bytes_in_use(), 9600);
  EXPECT_THROW(cache.take(1), std::exception);
  std::set<int64_t> slots;
  for (const auto* pages : {&a, &b})
    for (int64_t t = 0; t < static_cast<int64_t>(pages->size()) * 4; ++t) {
      const int64_t s = cache.slot_of(*pages, t);
      EXPECT_GE(s, 1);
      EXPECT_TRUE(slots.insert(s).second) << "slot " << s << " handed out twice";
    }
  EXPECT_EQ(slots.size(), 40u);
  cache.give_back(a);
  EXPECT_EQ(cache.pages_free(), 3);
  EXPECT_EQ(cache.take(3).size(), 3u);
}

TEST(PagedCache, BatchMasksEachRowToItsOwnPositions) {
  auto c = model::mtest::micro_config();
  auto cache = model::PagedLatentCache::allocate(c, 2, 1 << 16, 4, torch::kFloat32);
  auto p0 = cache.take(2), p1 = cache.take(1);
  // Row 0 holds 5 positions and appends 2; row 1 holds 1 and appends 1.
  auto b = rollout::make_paged_batch(cache, {{&p0, 5, {3, 4}}, {&p1, 1, {9}}});
  EXPECT_EQ(b.s, 2);
  EXPECT_EQ(b.t, 7);
  auto allowed = b.allowed;
  EXPECT_EQ(allowed[0][0].sum().item<int64_t>(), 6);  // positions 0..5
  EXPECT_EQ(allowed[0][1].sum().item<int64_t>(), 7);  // positions 0..6
  EXPECT_EQ(allowed[1][0].sum().item<int64_t>(), 2);  // positions 0..1
  EXPECT_EQ(allowed[1][1].sum().item<int64_t>(), 1);  // padding sees one slot
  EXPECT_EQ(b.positions[0][1].item<int64_t>(), 6);
  EXPECT_EQ(b.positions[1][0].item<int64_t>(), 1);
  EXPECT_EQ(b.write_slots[3].item<int64_t>(), 0);  // the padded token writes to scratch
  EXPECT_EQ(b.write_slots[0].item<int64_t>(), cache.slot_of(p0, 5));
  EXPECT_EQ(b.read_slots[1 * 7 + 1].item<int64_t>(), cache.slot_of(p1, 1));
  EXPECT_EQ(b.read_slots[1 * 7 + 2].item<int64_t>(), 0);  // past row 1's end: scratch, masked
}
