// The distributed checkpoint state: shards written by N ranks read back into whole buffers and restored
// into an engine of another world size; checksums catch corrupt or truncated shards, naming them.
#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "dist/comm.h"
#include "dist/zero.h"
#include "checkpoint/shards.h"

namespace {

namespace fs = std::filesystem;
using namespace zt;

std::vector<std::pair<std::string, at::Tensor>> params() {
  at::manual_seed(4);
  return {{"a.lora_A.weight", at::randn({3, 7}).requires_grad_(true)},
          {"a.lora_B.weight", at::randn({7, 3}).requires_grad_(true)},
          {"b.bias", at::randn({5}).requires_grad_(true)}};
}

// Writes what `world` ranks of a stage-`stage` run would hold for the given whole state.
void write_as_ranks(const std::string& dir, int world, int stage, const at::Tensor& master, const at::Tensor& m,
                    const at::Tensor& v) {
  dist::FlatLayout layout = dist::FlatLayout::build(params(), world);
  auto padded = [&](const at::Tensor& t) {
    at::Tensor p = at::zeros({layout.padded});
    p.narrow(0, 0, layout.numel).copy_(t);
    return p;
  };
  std::vector<uint32_t> checksums;
  for (int r = 0; r < world; ++r) {
    const int64_t size = stage == 0 ? layout.padded : layout.partition_size(), begin = stage == 0 ? 0 : r * size;
    checkpoint::RankState state{r, begin, padded(master).narrow(0, begin, size), padded(m).narrow(0, begin, size),
                           padded(v).narrow(0, begin, size), 12, "rng-" + std::to_string(r), "{\"row\": " + std::to_string(r) + "}"};
    checksums.push_back(checkpoint::write_rank_shard(dir, state));
  }
  checkpoint::write_manifest(dir, layout, stage, checksums);
}

std::string fresh_dir(const std::string& name) {
  fs::path dir = fs::path(ZTUNE_TEST_WORK_DIR) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

TEST(DistCheckpoint, ShardsOfAnyWorldReadBackWholeAndRestoreAnEngine) {
  const int64_t numel = 3 * 7 + 7 * 3 + 5;
  at::Tensor master = at::randn({numel}), m = at::randn({numel}), v = at::rand({numel});
  for (auto [world, stage] : {std::make_pair(3, 2), std::make_pair(4, 3), std::make_pair(2, 0), std::make_pair(1, 1)}) {
    const std::string dir = fresh_dir("dist-ckpt-" + std::to_string(world) + "-" + std::to_string(stage));
    write_as_ranks(dir, world, stage, master, m, v);
    checkpoint::FullState state = checkpoint::read_full_state(dir);
    EXPECT_EQ(state.world_size, world);
    EXPECT_EQ(state.stage, stage);
    EXPECT_EQ(state.step, 12);
    EXPECT_TRUE(at::equal(state.master, master));
    EXPECT_TRUE(at::equal(state.exp_avg, m));
    EXPECT_TRUE(at::equal(state.exp_avg_sq, v));
    ASSERT_EQ(state.rng_states.size(), static_cast<size_t>(world));
    EXPECT_EQ(state.rng_states.back(), "rng-" + std::to_string(world - 1));
    EXPECT_EQ(state.data_cursors[0], "{\"row\": 0}");
    // A one-process engine (a different world and stage) takes it over; the parameters follow.
    auto comm = dist::make_single_communicator();
    auto p = params();
    dist::ZeroEngine engine(*comm, dist::ZeroConfig{}, p, optim::AdamWConfig{});
    engine.load_full_state(state.layout.entries, state.master, state.exp_avg, state.exp_avg_sq, state.step);
    EXPECT_EQ(engine.steps_taken(), 12);
    EXPECT_TRUE(at::equal(engine.master().narrow(0, 0, numel), master));
    EXPECT_TRUE(at::equal(p[1].second.detach().reshape({-1}), master.narrow(0, 21, 21)));
  }
}

TEST(DistCheckpoint, CorruptTruncatedOrMissingShardsAreNamed) {
  const int64_t numel = 47;
  at::Tensor zeros = at::zeros({numel});
  const std::string dir = fresh_dir("dist-ckpt-bad");
  write_as_ranks(dir, 2, 2, at::randn({numel}), zeros, zeros);
  auto message = [&] {
    try {
      checkpoint::read_full_state(dir);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  const std::string shard = (fs::path(dir) / checkpoint::shard_name(1)).string();
  std::string bytes;
  {
    std::ifstream in(shard, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x5A;
  std::ofstream(shard, std::ios::binary) << flipped;
  EXPECT_NE(message().find(shard + ": corrupt (CRC-32"), std::string::npos) << message();
  std::ofstream(shard, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 3);
  EXPECT_NE(message().find(shard + ": corrupt"), std::string::npos) << message();
  fs::remove(shard);
  EXPECT_NE(message().find(shard + ": missing"), std::string::npos) << message();
  fs::remove(fs::path(dir) / "zero_manifest.json");
  EXPECT_NE(message().find("zero_manifest.json: missing"), std::string::npos) << message();
}

// Resuming with the same world size, a rank reads only the shard(s) holding its range: the others may be
// corrupt without it noticing (they are for their own ranks to read), and only its cursor comes back.
TEST(DistCheckpoint, ARankReadsOnlyTheShardsHoldingItsRange) {
  const int64_t numel = 47;  // world 3: padded 48, partitions [0,16) [16,32) [32,48)
  at::Tensor master = at::randn({numel}), m = at::randn({numel}), v = at::rand({numel});
  const std::string dir = fresh_dir("dist-ckpt-own-range");
  write_as_ranks(dir, 3, 2, master, m, v);
  for (int r : {0, 2}) {
    const std::string shard = (fs::path(dir) / checkpoint::shard_name(r)).string();
    std::string bytes;
    {
      std::ifstream in(shard, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    bytes[bytes.size() / 2] ^= 0x5A;
    std::ofstream(shard, std::ios::binary) << bytes;
  }
  checkpoint::FullState mine = checkpoint::read_state(dir, 16, 32, 1);
  EXPECT_EQ(mine.begin, 16);
  EXPECT_TRUE(at::equal(mine.master, master.narrow(0, 16, 16)));
  EXPECT_TRUE(at::equal(mine.exp_avg, m.narrow(0, 16, 16)));
  EXPECT_TRUE(at::equal(mine.exp_avg_sq, v.narrow(0, 16, 16)));
  EXPECT_EQ(mine.step, 12);
  EXPECT_EQ(mine.rng_states, (std::vector<std::string>{"", "rng-1", ""}));
  EXPECT_EQ(mine.data_cursors[1], "{\"row\": 1}");
  // A range reaching into a corrupt shard, or everything, is refused naming that shard.
  EXPECT_THROW(checkpoint::read_state(dir, 30, 40, 1), Error);
  try {
    checkpoint::read_full_state(dir);
    FAIL() << "a corrupt shard was read";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(checkpoint::shard_name(0) + ": corrupt"), std::string::npos) << error.what();
  }
  // The last rank's range ends at the unpadded size (its padding is not in any file's data).
  const std::string clean = fresh_dir("dist-ckpt-own-range-clean");
  write_as_ranks(clean, 3, 2, master, m, v);
  checkpoint::FullState last = checkpoint::read_state(clean, 32, 48, 2);
  EXPECT_EQ(last.master.numel(), numel - 32);
  EXPECT_TRUE(at::equal(last.master, master.narrow(0, 32, numel - 32)));
  // A stage-0 checkpoint (every shard holds everything) serves any range from its first shard.
  const std::string whole = fresh_dir("dist-ckpt-own-range-stage0");
  write_as_ranks(whole, 2, 0, master, m, v);
  EXPECT_TRUE(at::equal(checkpoint::read_state(whole, 5, 30, 1).exp_avg, m.narrow(0, 5, 25)));
  // An engine takes its own range back (stage 0, one process: the whole buffer) and writes the parameters.
  checkpoint::FullState all = checkpoint::read_state(clean, 0, numel, 0);
  auto comm = dist::make_single_communicator();
  auto p = params();
  dist::ZeroEngine engine(*comm, dist::ZeroConfig{}, p, optim::AdamWConfig{});
  engine.load_owned_state(all.layout.entries, all.begin, all.master, all.exp_avg, all.exp_avg_sq, all.step);
  EXPECT_TRUE(at::equal(engine.exp_avg_sq().narrow(0, 0, numel), v));
  EXPECT_TRUE(at::equal(p[2].second.detach().reshape({-1}), master.narrow(0, 42, 5)));
}

TEST(DistCheckpoint, RestoringADifferentAdapterShapeIsRefused) {
  const std::string dir = fresh_dir("dist-ckpt-shape");
  write_as_ranks(dir, 1, 0, at::zeros({47}), at::zeros({47}), at::zeros({47}));
  checkpoint::FullState state = checkpoint::read_full_state(dir);
  auto comm = dist::make_single_communicator();
  at::manual_seed(1);
  dist::ZeroEngine engine(*comm, dist::ZeroConfig{}, {{"a.lora_A.weight", at::randn({4, 7}).requires_grad_(true)}},
                          optim::AdamWConfig{});
  EXPECT_THROW(engine.load_full_state(state.layout.entries, state.master, state.exp_avg, state.exp_avg_sq, 1), Error);
}

}  // namespace
