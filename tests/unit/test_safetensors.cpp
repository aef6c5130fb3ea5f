// safetensors reader and writer: files written by Python load bit-exactly, malformed files are rejected
// with a message naming the problem and the file, and no truncation or corruption crashes the reader.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/safetensors.h"
#include "core/safetensors_torch.h"

namespace {

namespace fs = std::filesystem;
namespace st = zt::st;

// Written by tests/python/safetensors_interop.py write-reference (a ctest fixture).
const fs::path kReference = fs::path(ZTUNE_TEST_WORK_DIR) / "safetensors";

std::string read_bytes(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(stream), {});
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(read_bytes(path)); }

fs::path scratch(const std::string& name) {
  fs::path dir = fs::path(ZTUNE_TEST_WORK_DIR) / "safetensors-scratch";
  fs::create_directories(dir);
  return dir / name;
}

std::string parse_error(const std::string& bytes, const std::string& source = "mem.safetensors") {
  try {
    st::View::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), source);
  } catch (const zt::Error& error) {
    return error.what();
  }
  return "";
}

void expect_matches_reference(const st::Checkpoint& checkpoint, const std::string& label) {
  nlohmann::json manifest = read_json(kReference / "manifest.json");
  ASSERT_EQ(checkpoint.names().size(), manifest.size()) << label;
  for (auto& [name, entry] : manifest.items()) {
    SCOPED_TRACE(label + ": " + name);
    auto [file, info] = checkpoint.locate(name);
    EXPECT_EQ(st::dtype_name(info->dtype), entry["dtype"].get<std::string>());
    EXPECT_EQ(info->shape, entry["shape"].get<std::vector<int64_t>>());
    std::string expected = read_bytes(kReference / "expected" / (name + ".bin"));
    ASSERT_EQ(info->nbytes(), expected.size());
    EXPECT_EQ(std::memcmp(file->view().data(*info), expected.data(), expected.size()), 0);
    // Through the torch bridge too: same bytes, dtype and shape.
    at::Tensor tensor = st::to_tensor(file, *info);
    EXPECT_EQ(tensor.sizes().vec(), info->shape);
    ASSERT_EQ(static_cast<size_t>(tensor.nbytes()), expected.size());
    EXPECT_EQ(std::memcmp(tensor.data_ptr(), expected.data(), expected.size()), 0);
  }
}

TEST(Safetensors, ReadsPythonWrittenFileBitExactly) {
  st::Checkpoint checkpoint = st::Checkpoint::open((kReference / "python_written.safetensors").string());
  expect_matches_reference(checkpoint, "single file");
  const auto& metadata = checkpoint.files()[0]->view().metadata();
  EXPECT_EQ(metadata.at("format"), "pt");
  EXPECT_EQ(metadata.at("writer"), "python");
}

TEST(Safetensors, ReadsPythonWrittenShardsThroughTheIndex) {
  st::Checkpoint checkpoint = st::Checkpoint::open((kReference / "python_sharded").string());
  EXPECT_EQ(checkpoint.files().size(), 2u);
  expect_matches_reference(checkpoint, "sharded");
  at::Tensor q = st::load_tensor(checkpoint, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(q.scalar_type(), at::kBFloat16);
  EXPECT_THROW(st::load_tensor(checkpoint, "no.such.tensor"), zt::Error);
}

TEST(Safetensors, RejectsEveryMalformedFileNamingTheProblem) {
  nlohmann::json cases = read_json(kReference / "bad" / "cases.json");
  ASSERT_GE(cases.size(), 15u);
  for (auto& [file_name, phrase] : cases.items()) {
    SCOPED_TRACE(file_name);
    std::string path = (kReference / "bad" / file_name).string();
    try {
      st::File::open(path);
      ADD_FAILURE() << file_name << " was accepted";
    } catch (const zt::Error& error) {
      std::string message = error.what();
      EXPECT_NE(message.find(path), std::string::npos) << message;
      EXPECT_NE(message.find(phrase.get<std::string>()), std::string::npos)
          << "expected '" << phrase.get<std::string>() << "' in: " << message;
    }
  }
}

TEST(Safetensors, EveryTruncationIsRejectedAndNoneCrashes) {
  std::string whole = read_bytes(kReference / "python_written.safetensors");
  ASSERT_TRUE(parse_error(whole).empty()) << parse_error(whole);
  for (size_t length = 0; length < whole.size(); ++length) {
    std::string error = parse_error(whole.substr(0, length));
    ASSERT_FALSE(error.empty()) << "prefix of " << length << " bytes accepted";
  }
}

TEST(Safetensors, CorruptedHeaderBytesNeverCrash) {
  // Each header byte replaced by a few hostile values: the reader may accept (e.g. a changed name) or
  // reject, but must never read outside the buffer (run under ASan by the fuzz job) or throw anything else.
  std::string whole = read_bytes(kReference / "python_written.safetensors");
  uint64_t header_length = 0;
  std::memcpy(&header_length, whole.data(), 8);
  size_t rejected = 0;
  for (size_t i = 0; i < 8 + header_length; ++i) {
    for (char value : {'\0', '9', '"', '{', '\xff'}) {
      std::string mutated = whole;
      mutated[i] = value;
      try {
        st::View::parse(reinterpret_cast<const uint8_t*>(mutated.data()), mutated.size(), "mutated");
      } catch (const zt::Error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, header_length);
}

TEST(Safetensors, WriterRoundTripsAndPadsTheHeader) {
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"a", torch::arange(10, at::kFloat).reshape({2, 5})},
      {"b", torch::tensor({1, 2, 3}, at::kShort)},
      {"c", torch::randn({3, 3}).to(at::kBFloat16)},
      {"d", torch::tensor({true, false})},
  };
  fs::path path = scratch("roundtrip.safetensors");
  st::save_tensors(path.string(), tensors, {{"format", "pt"}, {"note", "x"}});
  std::string bytes = read_bytes(path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));

  st::Checkpoint checkpoint = st::Checkpoint::open(path.string());
  for (auto& [name, tensor] : tensors) {
    at::Tensor loaded = st::load_tensor(checkpoint, name);
    EXPECT_EQ(loaded.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(loaded, tensor)) << name;
  }
  EXPECT_EQ(checkpoint.files()[0]->view().metadata().at("note"), "x");
}

TEST(Safetensors, UnalignedTensorsAreCopiedNotMisread) {
  // A U8 tensor of odd length pushes the F32 after it off 4-byte alignment.
  std::vector<uint8_t> small = {1, 2, 3};
  std::vector<float> values = {1.5f, -2.0f};
  fs::path path = scratch("unaligned.safetensors");
  st::write_file(path.string(), {{"u", st::DType::U8, {3}, small.data(), 3}, {"f", st::DType::F32, {2}, values.data(), 8}});
  at::Tensor loaded = st::load_tensor(st::Checkpoint::open(path.string()), "f");
  EXPECT_FLOAT_EQ(loaded[0].item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(loaded[1].item<float>(), -2.0f);
}

TEST(Safetensors, ShardedWriterSplitsBySizeAndWritesAnIndex) {
  std::vector<float> block(100, 1.0f);  // 400 bytes each
  std::vector<st::TensorBytes> entries;
  for (int i = 0; i < 5; ++i)
    entries.push_back({"t" + std::to_string(i), st::DType::F32, {100}, block.data(), block.size() * 4});
  fs::path dir = scratch("sharded");
  fs::remove_all(dir);
  auto files = st::write_sharded(dir.string(), entries, 900);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], "model-00001-of-00003.safetensors");
  nlohmann::json index = read_json(dir / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"], 2000);
  EXPECT_EQ(index["weight_map"]["t4"], "model-00003-of-00003.safetensors");
  st::Checkpoint checkpoint = st::Checkpoint::open(dir.string());
  EXPECT_EQ(checkpoint.names().size(), 5u);

  fs::path single = scratch("single");
  fs::remove_all(single);
  EXPECT_EQ(st::write_sharded(single.string(), entries, st::parse_size("5GB")),
            std::vector<std::string>{"model.safetensors"});
  EXPECT_FALSE(fs::exists(single / "model.safetensors.index.json"));
}

TEST(Safetensors, HostileIndexIsRejected) {
  fs::path dir = scratch("hostile-index");
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<float> value = {1.0f};
  st::write_file((dir / "a.safetensors").string(), {{"w", st::DType::F32, {1}, value.data(), 4}});
  auto write_index = [&](const std::string& text) { std::ofstream(dir / "model.safetensors.index.json") << text; };
  auto error_of_open = [&]() -> std::string {
    try {
      st::Checkpoint::open(dir.string());
    } catch (const zt::Error& error) {
      return error.what();
    }
    return "";
  };
  write_index(R"({"weight_map": {"w": "../a.safetensors"}})");
  EXPECT_NE(error_of_open().find("not a plain file name"), std::string::npos);
  write_index(R"({"weight_map": {"missing": "a.safetensors"}})");
  EXPECT_NE(error_of_open().find("does not contain it"), std::string::npos);
  write_index(R"({"weight_map": {"w": "gone.safetensors"}})");
  EXPECT_NE(error_of_open().find("gone.safetensors: cannot open"), std::string::npos);
  write_index(R"({"metadata": {}})");
  EXPECT_NE(error_of_open().find("weight_map"), std::string::npos);
  write_index(R"({"weight_map": {"w": "a.safetensors"}})");
  EXPECT_EQ(error_of_open(), "");
  fs::path empty = scratch("empty-folder");
  fs::create_directories(empty);
  EXPECT_THROW(st::Checkpoint::open(empty.string()), zt::Error);
}

TEST(Safetensors, ParseSizeReadsTransformersUnits) {
  EXPECT_EQ(st::parse_size("5GB"), 5'000'000'000ull);
  EXPECT_EQ(st::parse_size("500MB"), 500'000'000ull);
  EXPECT_EQ(st::parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(st::parse_size("10kb"), 10'000ull);
  EXPECT_EQ(st::parse_size("4096"), 4096ull);
  EXPECT_THROW(st::parse_size("lots"), zt::Error);
  EXPECT_THROW(st::parse_size("-1GB"), zt::Error);
  EXPECT_THROW(st::parse_size(""), zt::Error);
}

}  // namespace
