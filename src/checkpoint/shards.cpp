#include "checkpoint/shards.h"

#include <fcntl.h>
#include <hdf5.h>
#include "core/torch_api.h"
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"
#include "core/fs.h"

namespace zt::checkpoint {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

// Closes an HDF5 handle with the matching function when it goes out of scope.
class H5Handle {
 public:
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// HDF5's own message is on its error stack, which is silenced; errno still holds the system's reason.
[[noreturn]] void throw_write_failure(const std::string& path, const std::string& what, int error) {
  error = fs_util::write_errno(error, path);
  ZT_SYSTEM_THROW(path << ": " << what << " (" << (error != 0 ? std::strerror(error) : "HDF5 error") << "); "
                       << fs_util::write_advice(error));
}

void write_dataset(hid_t file, const char* name, hid_t type, const void* data, hsize_t count, const std::string& path) {
  H5Handle space(H5Screate_simple(1, &count, nullptr), H5Sclose);
  H5Handle set(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (set.get() < 0 || H5Dwrite(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    throw_write_failure(path, "writing '" + std::string(name) + "' failed", errno);
}

void write_tensor(hid_t file, const char* name, const at::Tensor& tensor, const std::string& path) {
  at::Tensor t = tensor.to(at::kCPU, at::kFloat).contiguous();
  std::vector<float> padded_for_empty(1, 0.0f);
  // A zero-length dataset cannot be written; an empty range is stored as one element and a length.
  const float* data = t.numel() > 0 ? t.const_data_ptr<float>() : padded_for_empty.data();
  write_dataset(file, name, H5T_NATIVE_FLOAT, data, static_cast<hsize_t>(std::max<int64_t>(1, t.numel())), path);
}

void write_bytes(hid_t file, const char* name, const std::string& bytes, const std::string& path) {
  std::string stored = bytes + '\0';  // never empty
  write_dataset(file, name, H5T_NATIVE_UINT8, stored.data(), stored.size(), path);
}

void write_int(hid_t file, const char* name, int64_t value, const std::string& path) {
  write_dataset(file, name, H5T_NATIVE_INT64, &value, 1, path);
}

hsize_t dataset_length(hid_t file, const char* name, H5Handle& set, const std::string& path) {
  ZT_REQUIRE(set.get() >= 0, path << ": dataset '" << name << "' is missing; the shard is not a ztune checkpoint shard");
  H5Handle space(H5Dget_space(set.get()), H5Sclose);
  hsize_t length = 0;
  ZT_REQUIRE(H5Sget_simple_extent_ndims(space.get()) == 1 && H5Sget_simple_extent_dims(space.get(), &length, nullptr) == 1,
             path << ": dataset '" << name << "' is not one-dimensional");
  (void)file;
  return length;
}

template <typename T>
std::vector<T> read_dataset(hid_t file, const char* name, hid_t type, const std::string& path) {
  H5Handle set(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  std::vector<T> values(dataset_length(file, name, set, path));
  ZT_REQUIRE(H5Dread(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0,
             path << ": reading '" << name << "' failed");
  return values;
}

// `count` floats of a 1-D dataset from `offset`, into `out` (an HDF5 hyperslab: only those bytes are read).
void read_float_range(hid_t file, const char* name, hsize_t offset, hsize_t count, float* out, const std::string& path) {
  H5Handle set(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  const hsize_t length = dataset_length(file, name, set, path);
  ZT_REQUIRE(offset + count <= length, path << ": '" << name << "' has " << length << " values, " << offset + count
                                            << " were expected");
  H5Handle file_space(H5Dget_space(set.get()), H5Sclose);
  H5Handle memory_space(H5Screate_simple(1, &count, nullptr), H5Sclose);
  ZT_REQUIRE(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &offset, nullptr, &count, nullptr) >= 0 &&
                 H5Dread(set.get(), H5T_NATIVE_FLOAT, memory_space.get(), file_space.get(), H5P_DEFAULT, out) >= 0,
             path << ": reading '" << name << "' failed");
}

}  // namespace

std::string crc_hex(uint32_t crc) {
  std::ostringstream hex;
  hex << std::hex << std::setw(8) << std::setfill('0') << crc;
  return hex.str();
}

uint32_t file_crc32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ZT_REQUIRE(in, path << ": cannot open");
  uint32_t crc = 0xFFFFFFFFu;
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i)
      crc = crc_table()[(crc ^ static_cast<uint8_t>(buffer[static_cast<size_t>(i)])) & 0xFF] ^ (crc >> 8);
  }
  return crc ^ 0xFFFFFFFFu;
}

std::string shard_name(int rank) {
  char name[32];
  std::snprintf(name, sizeof name, "zero_rank_%05d.h5", rank);
  return name;
}

uint32_t write_rank_shard(const std::string& dir, const RankState& state) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by us, naming the file
  const std::string path = (fs::path(dir) / shard_name(state.rank)).string();
  const std::string temporary = path + ".tmp";
  {
    errno = 0;
    H5Handle file(H5Fcreate(temporary.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (file.get() < 0) throw_write_failure(temporary, "cannot create", errno);
    write_int(file.get(), "format", kCheckpointFormat, temporary);
    write_int(file.get(), "rank", state.rank, temporary);
    write_int(file.get(), "owned_begin", state.owned_begin, temporary);
    write_int(file.get(), "owned", state.master.numel(), temporary);
    write_int(file.get(), "step", state.step, temporary);
    write_tensor(file.get(), "master", state.master, temporary);
    write_tensor(file.get(), "exp_avg", state.exp_avg, temporary);
    write_tensor(file.get(), "exp_avg_sq", state.exp_avg_sq, temporary);
    write_bytes(file.get(), "rng_state", state.rng_state, temporary);
    write_bytes(file.get(), "data_cursor", state.data_cursor, temporary);
    // HDF5 buffers: a full disk may show only when the buffers go out.
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) throw_write_failure(temporary, "write failed", errno);
  }
  fs_util::fsync_path(temporary);
  fs_util::rename_path(temporary, path);
  fs_util::fsync_path(dir);
  return file_crc32(path);
}

void write_manifest(const std::string& dir, const dist::FlatLayout& layout, int stage,
                    const std::vector<uint32_t>& checksums) {
  ZT_CHECK(static_cast<int>(checksums.size()) == layout.world, "one checksum per rank expected");
  json manifest = {{"format", kCheckpointFormat}, {"world_size", layout.world}, {"stage", stage},
                   {"numel", layout.numel},        {"padded", layout.padded}};
  for (const dist::FlatEntry& e : layout.entries)
    manifest["entries"].push_back({{"name", e.name}, {"shape", e.shape}, {"offset", e.offset}, {"numel", e.numel},
                                   {"decay", e.decay}});
  for (int r = 0; r < layout.world; ++r)
    manifest["shards"].push_back({{"file", shard_name(r)}, {"crc32", crc_hex(checksums[static_cast<size_t>(r)])}});
  const std::string path = (fs::path(dir) / "zero_manifest.json").string();
  fs_util::write_file_atomically(path, manifest.dump(1) + "\n");
}

FullState read_full_state(const std::string& dir) {
  return read_state(dir, 0, std::numeric_limits<int64_t>::max(), -1);
}

int written_world_size(const std::string& dir) {
  const std::string path = (fs::path(dir) / "zero_manifest.json").string();
  std::ifstream in(path);
  ZT_REQUIRE(in, path << ": missing; this folder is not a complete ztune checkpoint");
  try {
    return json::parse(in).at("world_size").get<int>();
  } catch (const json::exception& error) {
    ZT_THROW(path << ": malformed (" << error.what() << ")");
  }
}

FullState read_state(const std::string& dir, int64_t begin, int64_t end, int data_rank) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string manifest_path = (fs::path(dir) / "zero_manifest.json").string();
  std::ifstream in(manifest_path);
  ZT_REQUIRE(in, manifest_path << ": missing; this folder is not a complete ztune checkpoint");
  json manifest;
  try {
    manifest = json::parse(in);
  } catch (const json::exception& error) {
    ZT_THROW(manifest_path << ": not valid JSON (" << error.what() << ")");
  }
  FullState state;
  try {
    ZT_REQUIRE(manifest.at("format").get<int>() == kCheckpointFormat,
               manifest_path << ": format " << manifest.at("format") << " is not the format " << kCheckpointFormat
                             << " this ztune reads");
    state.world_size = manifest.at("world_size").get<int>();
    state.stage = manifest.at("stage").get<int>();
    state.layout.world = state.world_size;
    state.layout.numel = manifest.at("numel").get<int64_t>();
    state.layout.padded = manifest.at("padded").get<int64_t>();
    for (const json& e : manifest.at("entries"))
      state.layout.entries.push_back({e.at("name").get<std::string>(), e.at("shape").get<std::vector<int64_t>>(),
                                      e.at("offset").get<int64_t>(), e.at("numel").get<int64_t>(),
                                      e.at("decay").get<bool>()});
  } catch (const json::exception& error) {
    ZT_THROW(manifest_path << ": malformed (" << error.what() << ")");
  }
  ZT_REQUIRE(state.world_size > 0 && state.layout.padded >= state.layout.numel &&
                 static_cast<int>(manifest["shards"].size()) == state.world_size,
             manifest_path << ": inconsistent sizes");
  // A range may start in the padding (a rank owning none of the real elements): it reads nothing, but
  // keeps its own start.
  state.begin = std::max<int64_t>(0, begin);
  begin = std::min(state.begin, state.layout.numel);
  end = std::clamp<int64_t>(end, begin, state.layout.numel);
  state.master = at::zeros({end - begin});
  state.exp_avg = at::zeros({end - begin});
  state.exp_avg_sq = at::zeros({end - begin});
  state.rng_states.assign(static_cast<size_t>(state.world_size), "");
  state.data_cursors.assign(static_cast<size_t>(state.world_size), "");
  int64_t covered = begin;  // [begin, covered) is read; shards hold increasing ranges (stage 0: each all)
  bool have_step = false;
  for (int r = 0; r < state.world_size; ++r) {
    const json& shard = manifest["shards"][static_cast<size_t>(r)];
    const std::string path = (fs::path(dir) / shard.at("file").get<std::string>()).string();
    ZT_REQUIRE(fs::exists(path), path << ": missing; the checkpoint was written by " << state.world_size
                                      << " ranks and needs every shard");
    // Each rank's range follows from the manifest (DeepSpeed's partitioning: stage 0 holds everything).
    const int64_t partition = state.layout.padded / state.world_size;
    const int64_t shard_begin = state.stage == 0 ? 0 : r * partition;
    const int64_t owned = state.stage == 0 ? state.layout.padded : partition;
    // The part of the wanted range this shard adds, and whether this shard's own data is wanted.
    const int64_t lo = std::max(covered, shard_begin), hi = std::min(end, shard_begin + owned);
    const bool wanted_data = data_rank < 0 || data_rank == r;
    if (hi <= lo && !wanted_data) continue;  // not read: its checksum is for whoever reads it
    const std::string crc = crc_hex(file_crc32(path)), expected = shard.at("crc32").get<std::string>();
    ZT_REQUIRE(crc == expected, path << ": corrupt (CRC-32 " << crc << ", the manifest says " << expected
                                     << "); resume from an earlier checkpoint");
    H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    ZT_REQUIRE(file.get() >= 0, path << ": not a readable HDF5 file");
    auto scalar = [&](const char* name) {
      std::vector<int64_t> v = read_dataset<int64_t>(file.get(), name, H5T_NATIVE_INT64, path);
      ZT_REQUIRE(v.size() == 1, path << ": '" << name << "' is not a scalar");
      return v[0];
    };
    ZT_REQUIRE(scalar("owned_begin") == shard_begin && scalar("owned") == owned,
               path << ": holds [" << scalar("owned_begin") << ", " << scalar("owned_begin") + scalar("owned")
                    << "), the manifest (stage " << state.stage << ", " << state.world_size << " ranks) says ["
                    << shard_begin << ", " << shard_begin + owned << ")");
    ZT_REQUIRE(scalar("rank") == r, path << ": holds rank " << scalar("rank") << ", expected " << r);
    if (!have_step) state.step = scalar("step"), have_step = true;
    ZT_REQUIRE(scalar("step") == state.step, path << ": step " << scalar("step") << " differs from the other shards' "
                                                  << state.step);
    if (hi > lo) {
      for (auto [name, target] : {std::make_pair("master", &state.master), std::make_pair("exp_avg", &state.exp_avg),
                                  std::make_pair("exp_avg_sq", &state.exp_avg_sq)})
        read_float_range(file.get(), name, static_cast<hsize_t>(lo - shard_begin), static_cast<hsize_t>(hi - lo),
                         target->mutable_data_ptr<float>() + (lo - begin), path);
      covered = hi;
    }
    if (wanted_data) {
      auto text = [&](const char* name) {
        std::vector<uint8_t> bytes = read_dataset<uint8_t>(file.get(), name, H5T_NATIVE_UINT8, path);
        ZT_REQUIRE(!bytes.empty(), path << ": '" << name << "' is empty");
        return std::string(bytes.begin(), bytes.end() - 1);
      };
      state.rng_states[static_cast<size_t>(r)] = text("rng_state");
      state.data_cursors[static_cast<size_t>(r)] = text("data_cursor");
    }
  }
  ZT_REQUIRE(covered == end, dir << ": the shards hold the flat buffer only up to " << covered << " of " << end
                                 << "; the checkpoint is incomplete");
  return state;
}

}  // namespace zt::checkpoint
