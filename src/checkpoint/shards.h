// The distributed part of a checkpoint: one HDF5 shard per rank holding its range of the fp32 master
// weights and Adam moments (plus step, RNG state and data cursor), and a manifest with the format version,
// world size, ZeRO stage, the flat layout (names, shapes, offsets, padding) and a CRC-32 of every shard.
// Reading takes any range of the unpadded flat buffer from whichever shards hold it, so a run may resume
// with another world size or stage, and a rank reads only its own range (not the whole state) back; a
// shard whose checksum does not match is an error naming it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dist/flat_layout.h"

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

// The optimizer state of a range [begin, begin + master.numel()) of the unpadded flat buffer, in
// flat-layout order.
struct FullState {
  dist::FlatLayout layout;  // as written (its padding is that of the writing world size)
  int world_size = 0;
  int stage = 0;
  int64_t begin = 0;
  at::Tensor master, exp_avg, exp_avg_sq;
  int64_t step = 0;
  // Per writing rank; with a single `data_rank` only that rank's entry is filled (the others are empty).
  std::vector<std::string> rng_states, data_cursors;
};

std::string shard_name(int rank);  // "zero_rank_00000.h5"
// Writes `dir`/shard_name(rank) through a temporary file, fsync and rename; returns its CRC-32.
uint32_t write_rank_shard(const std::string& dir, const RankState& state);
// Rank 0, after every rank wrote its shard: `checksums` in rank order.
void write_manifest(const std::string& dir, const dist::FlatLayout& layout, int stage,
                    const std::vector<uint32_t>& checksums);
// Reads every shard of `dir`, verifying the manifest and checksums: the whole state.
FullState read_full_state(const std::string& dir);
// Reads the range [begin, end) of the unpadded flat buffer (clamped to its size), opening for data only
// the shards that hold part of it (their checksums verified), and the RNG state and data cursor of
// `data_rank` alone (-1: of every writing rank). What a rank resuming with the same world size needs.
FullState read_state(const std::string& dir, int64_t begin, int64_t end, int data_rank);
// The number of ranks that wrote the checkpoint in `dir` (its manifest).
int written_world_size(const std::string& dir);

// CRC-32 (IEEE) of a file, and its form in the manifest (8 hex digits).
uint32_t file_crc32(const std::string& path);
std::string crc_hex(uint32_t crc);

}  // namespace zt::checkpoint
