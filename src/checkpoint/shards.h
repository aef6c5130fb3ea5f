// The distributed part of a checkpoint: one HDF5 shard per rank holding its range of the fp32 master
// weights and Adam moments (plus step, RNG state and data cursor), and a manifest with the format version,
// world size, ZeRO stage, the flat layout (names, shapes, offsets, padding) and a CRC-32 of every shard.
// Reading gathers the shards back into whole unpadded buffers, so a run may resume with another world
// size or stage; a shard whose checksum does not match is an error naming it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dist/zero.h"

namespace zt::checkpoint {

inline constexpr int kCheckpointFormat = 1;

// What one rank writes.
struct RankState {
  int rank = 0;
  int64_t owned_begin = 0;  // start of its range in the padded flat buffer
  at::Tensor master, exp_avg, exp_avg_sq;  // fp32, its range
  int64_t step = 0;
  std::string rng_state;    // opaque bytes
  std::string data_cursor;  // JSON text
};

// The whole optimizer state, unpadded, in flat-layout order.
struct FullState {
  dist::FlatLayout layout;
  int world_size = 0;
  int stage = 0;
  at::Tensor master, exp_avg, exp_avg_sq;
  int64_t step = 0;
  std::vector<std::string> rng_states, data_cursors;  // per writing rank
};

std::string shard_name(int rank);  // "zero_rank_00000.h5"
// Writes `dir`/shard_name(rank) through a temporary file, fsync and rename; returns its CRC-32.
uint32_t write_rank_shard(const std::string& dir, const RankState& state);
// Rank 0, after every rank wrote its shard: `checksums` in rank order.
void write_manifest(const std::string& dir, const dist::FlatLayout& layout, int stage,
                    const std::vector<uint32_t>& checksums);
// Reads every shard of `dir`, verifying the manifest and checksums.
FullState read_full_state(const std::string& dir);

// CRC-32 (IEEE) of a file, and its form in the manifest (8 hex digits).
uint32_t file_crc32(const std::string& path);
std::string crc_hex(uint32_t crc);

}  // namespace zt::checkpoint
