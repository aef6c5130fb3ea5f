#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/tokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <array>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/check.h"
#include "data/utf8.h"

namespace zt::data {
namespace {

using nlohmann::json;

// GPT-2's printable stand-ins for the 256 byte values (bytes_to_unicode).
std::array<uint32_t, 256> byte_to_code_point() {
  std::array<uint32_t, 256> table{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table[b] = printable ? b : next++;
  }
  return table;
}

// Decodes a byte-level token string back to raw bytes; false if a character is outside the alphabet.
bool byte_level_to_bytes(const std::string& token, const std::unordered_map<uint32_t, uint8_t>& inverse,
                         std::string& out) {
  out.clear();
  const auto* bytes = reinterpret_cast<const uint8_t*>(token.data());
  size_t i = 0;
  while (i < token.size()) {
    int length = utf8_sequence_length(bytes[i]);
    if (length == 0 || i + static_cast<size_t>(length) > token.size()) return false;
    uint32_t code = length == 1 ? bytes[i] : bytes[i] & (0xFF >> (length + 1));
    for (int k = 1; k < length; ++k) code = (code << 6) | (bytes[i + k] & 0x3F);
    auto found = inverse.find(code);
    if (found == inverse.end()) return false;
    out.push_back(static_cast<char>(found->second));
    i += static_cast<size_t>(length);
  }
  return true;
}

// Open-addressing map from a token-id pair to its merge (rank and resulting id).
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  void reserve(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity <<= 1;
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, {0, 0});
    mask_ = capacity - 1;
  }
  void insert(int32_t left, int32_t right, Merge merge) {
    uint64_t key = pack(left, right);
    size_t slot = hash(key) & mask_;
    while (keys_[slot] != kEmpty && keys_[slot] != key) slot = (slot + 1) & mask_;
    if (keys_[slot] == key) return;  // the first (lowest-rank) rule for a pair wins
    keys_[slot] = key;
    values_[slot] = merge;
  }
  const Merge* find(int32_t left, int32_t right) const {
    uint64_t key = pack(left, right);
    size_t slot = hash(key) & mask_;
    while (keys_[slot] != kEmpty) {
      if (keys_[slot] == key) return &values_[slot];
      slot = (slot + 1) & mask_;
    }
    return nullptr;
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  static size_t hash(uint64_t key) { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 17); }
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
  size_t mask_ = 0;
};

// Byte trie over the added tokens, for leftmost-longest matching.
struct AddedTrie {
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;
  };
  std::vector<Node> nodes = std::vector<Node>(1);
  std::array<bool, 256> first_byte{};

  void insert(const std::string& text, int32_t token) {
    int32_t node = 0;
    for (char c : text) {
      auto byte = static_cast<uint8_t>(c);
      auto& children = nodes[static_cast<size_t>(node)].children;
      auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
      if (it != children.end() && it->first == byte) {
        node = it->second;
      } else {
        int32_t created = static_cast<int32_t>(nodes.size());
        children.insert(it, {byte, created});
        nodes.emplace_back();
        node = created;
      }
    }
    nodes[static_cast<size_t>(node)].token = token;
    if (!text.empty()) first_byte[static_cast<uint8_t>(text[0])] = true;
  }
  // Longest added token starting at `text[0]`: {token, length} or {-1, 0}.
  std::pair<int32_t, size_t> longest(std::string_view text) const {
    int32_t node = 0;
    std::pair<int32_t, size_t> best{-1, 0};
    for (size_t i = 0; i < text.size(); ++i) {
      const auto& children = nodes[static_cast<size_t>(node)].children;
      auto byte = static_cast<uint8_t>(text[i]);
      auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
      if (it == children.end() || it->first != byte) break;
      node = it->second;
      if (nodes[static_cast<size_t>(node)].token >= 0) best = {nodes[static_cast<size_t>(node)].token, i + 1};
    }
    return best;
  }
};

struct RegexDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Everything read from tokenizer.json; immutable and shared by copies.
struct Model {
  std::string path;
  std::vector<std::string> id_bytes;  // raw bytes of each id (added tokens: their content)
  std::vector<uint8_t> special;       // 1 for special added tokens
  std::unordered_map<std::string, int32_t> vocab;  // raw bytes -> id
  std::unordered_map<std::string, int32_t> added;  // content -> id
  std::array<int32_t, 256> byte_token{};  // -1: the vocabulary has no token for that byte
  int32_t unk_id = -1;                     // model.unk_token, if any: stands for bytes without a token
  bool fuse_unk = false;                   // consecutive unknown bytes become one unk
  MergeTable merges;
  AddedTrie added_trie;
  bool nfc = false;
  bool ignore_merges = false;
  bool add_prefix_space = false;
  std::unique_ptr<pcre2_code, RegexDeleter> regex;  // null: no split
};

[[noreturn]] void unsupported(const std::string& path, const std::string& what) {
  ZT_THROW(path << ": " << what << " is not supported by ztune's tokenizer (byte-level BPE of the "
                   "Qwen2/Llama-3/GPT-2 families)");
}

// `where` is the JSON path of `normalizer` in the file, for the error of what is not supported.
void read_normalizer(const json& normalizer, Model& model, const std::string& where) {
  if (normalizer.is_null()) return;
  std::string type = normalizer.value("type", "");
  if (type == "NFC") {
    model.nfc = true;
  } else if (type == "Sequence") {
    size_t i = 0;
    for (const json& inner : normalizer.at("normalizers"))
      read_normalizer(inner, model, where + ".normalizers[" + std::to_string(i++) + "]");
  } else {
    unsupported(model.path, where + ".type = \"" + type + "\"");
  }
}

void read_pre_tokenizer(const json& pre, Model& model, std::string& pattern, const std::string& where) {
  if (pre.is_null()) return;
  std::string type = pre.value("type", "");
  if (type == "Sequence") {
    size_t i = 0;
    for (const json& inner : pre.at("pretokenizers"))
      read_pre_tokenizer(inner, model, pattern, where + ".pretokenizers[" + std::to_string(i++) + "]");
  } else if (type == "Split") {
    if (pre.value("behavior", "") != "Isolated" || pre.value("invert", false))
      unsupported(model.path, where + ".behavior = \"" + pre.value("behavior", "") + "\" (a Split)");
    if (!pattern.empty()) unsupported(model.path, where + ": a second Split pre-tokenizer");
    const json& spec = pre.at("pattern");
    if (spec.contains("Regex")) pattern = spec["Regex"].get<std::string>();
    else unsupported(model.path, where + ".pattern: a Split on a plain string");
  } else if (type == "ByteLevel") {
    model.add_prefix_space = pre.value("add_prefix_space", false);
    if (pre.value("use_regex", true)) {
      if (!pattern.empty()) unsupported(model.path, where + ": ByteLevel(use_regex=true) after a Split");
      pattern = kGpt2Regex;
    }
  } else {
    unsupported(model.path, where + ".type = \"" + type + "\"");
  }
}

std::shared_ptr<const Model> load_model(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  ZT_REQUIRE(stream.good(), path << ": cannot open tokenizer file");
  json root;
  try {
    root = json::parse(stream);
  } catch (const json::exception& error) {
    ZT_THROW(path << ": not valid JSON (" << error.what() << ")");
  }
  auto model = std::make_shared<Model>();
  model->path = path;
  const json& bpe = root.at("model");
  if (bpe.value("type", "BPE") != "BPE") unsupported(path, "model.type = \"" + bpe.value("type", "") + "\"");
  if (bpe.value("byte_fallback", false)) unsupported(path, "model.byte_fallback = true");
  // transformers 5 writes "" for both on every BPE tokenizer it saves: the same as none.
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json value = bpe.value(key, json());
    if (!value.is_null() && !(value.is_string() && value.get<std::string>().empty()))
      unsupported(path, std::string("model.") + key + " = " + value.dump());
  }
  model->ignore_merges = bpe.value("ignore_merges", false);
  model->fuse_unk = bpe.value("fuse_unk", false);
  read_normalizer(root.value("normalizer", json()), *model, "normalizer");
  std::string pattern;
  read_pre_tokenizer(root.value("pre_tokenizer", json()), *model, pattern, "pre_tokenizer");

  // Vocabulary: byte-level strings back to raw bytes.
  std::unordered_map<uint32_t, uint8_t> inverse;
  std::array<uint32_t, 256> forward = byte_to_code_point();
  for (uint32_t b = 0; b < 256; ++b) inverse[forward[b]] = static_cast<uint8_t>(b);
  int32_t max_id = -1;
  std::vector<std::pair<std::string, int32_t>> entries;
  std::string raw;
  for (auto& [token, id_json] : bpe.at("vocab").items()) {
    int32_t id = id_json.get<int32_t>();
    ZT_REQUIRE(id >= 0, path << ": negative id for token '" << token << "'");
    entries.emplace_back(byte_level_to_bytes(token, inverse, raw) ? raw : token, id);
    max_id = std::max(max_id, id);
  }
  std::vector<std::pair<std::string, int32_t>> added_entries;
  for (const json& entry : root.value("added_tokens", json::array())) {
    std::string content = entry.at("content").get<std::string>();
    if (entry.value("lstrip", false) || entry.value("rstrip", false) || entry.value("single_word", false))
      unsupported(path, "added_tokens: lstrip/rstrip/single_word on '" + content + "'");
    int32_t id = entry.at("id").get<int32_t>();
    added_entries.emplace_back(content, id);
    max_id = std::max(max_id, id);
  }
  model->id_bytes.assign(static_cast<size_t>(max_id + 1), std::string());
  model->special.assign(static_cast<size_t>(max_id + 1), 0);
  for (auto& [bytes, id] : entries) {
    model->vocab.emplace(bytes, id);
    model->id_bytes[static_cast<size_t>(id)] = bytes;
  }
  size_t index = 0;
  for (const json& entry : root.value("added_tokens", json::array())) {
    auto& [content, id] = added_entries[index++];
    model->added[content] = id;
    model->id_bytes[static_cast<size_t>(id)] = content;
    model->special[static_cast<size_t>(id)] = entry.value("special", false) ? 1 : 0;
    model->added_trie.insert(content, id);
  }
  // A byte without a token (SmolLM2's vocabulary lacks 21) becomes model.unk_token when there is one, and is
  // dropped otherwise, as HF tokenizers does.
  int missing_bytes = 0;
  for (int b = 0; b < 256; ++b) {
    auto found = model->vocab.find(std::string(1, static_cast<char>(b)));
    model->byte_token[static_cast<size_t>(b)] = found != model->vocab.end() ? found->second : -1;
    missing_bytes += found == model->vocab.end();
  }
  if (const json unk = bpe.value("unk_token", json()); unk.is_string() && missing_bytes > 0) {
    const std::string& name = unk.get_ref<const std::string&>();
    auto found = model->vocab.find(byte_level_to_bytes(name, inverse, raw) ? raw : name);
    ZT_REQUIRE(found != model->vocab.end(), path << ": model.unk_token '" << name << "' is not in model.vocab, and "
                                                 << missing_bytes << " bytes have no token of their own");
    model->unk_id = found->second;
  }

  // Merges, as "a b" strings or ["a", "b"] pairs; rank = position.
  const json& merges = bpe.at("merges");
  model->merges.reserve(merges.size());
  std::string left_raw, right_raw;
  int32_t rank = 0;
  for (const json& merge : merges) {
    std::string left, right;
    if (merge.is_string()) {
      const std::string& text = merge.get_ref<const std::string&>();
      size_t space = text.find(' ', 1);
      ZT_REQUIRE(space != std::string::npos, path << ": merge '" << text << "' is not two tokens");
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else {
      ZT_REQUIRE(merge.is_array() && merge.size() == 2, path << ": merge #" << rank << " is not a pair");
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    }
    ZT_REQUIRE(byte_level_to_bytes(left, inverse, left_raw) && byte_level_to_bytes(right, inverse, right_raw),
               path << ": merge '" << left << " " << right << "' has characters outside the byte-level alphabet");
    auto left_id = model->vocab.find(left_raw), right_id = model->vocab.find(right_raw),
         merged = model->vocab.find(left_raw + right_raw);
    ZT_REQUIRE(left_id != model->vocab.end() && right_id != model->vocab.end() && merged != model->vocab.end(),
               path << ": merge '" << left << " " << right << "' uses or makes a token missing from the vocabulary");
    model->merges.insert(left_id->second, right_id->second, {rank++, merged->second});
  }

  if (!pattern.empty()) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof(message));
      ZT_THROW(path << ": pre-tokenizer regex does not compile at offset " << error_offset << ": "
                    << reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
    model->regex.reset(code);
  }
  return model;
}

// A bounded cache from a pre-tokenized piece to its ids.
class WordCache {
 public:
  const std::vector<int32_t>* find(std::string_view piece) const {
    auto found = map_.find(piece);
    return found == map_.end() ? nullptr : &found->second;
  }
  void insert(std::string_view piece, const std::vector<int32_t>& ids) {
    if (piece.size() > 128) return;
    if (map_.size() >= 1 << 18) {
      map_.clear();
      keys_.clear();
    }
    keys_.emplace_back(piece);
    map_.emplace(keys_.back(), ids);
  }

 private:
  std::deque<std::string> keys_;  // stable storage for the string_view keys
  std::unordered_map<std::string_view, std::vector<int32_t>> map_;
};

}  // namespace

struct Tokenizer::Impl {
  std::shared_ptr<const Model> model;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match_data;
  mutable WordCache cache;
  // Scratch reused across calls.
  mutable std::string sanitized, normalized, prefixed;
  mutable std::vector<int32_t> symbols, prev, next, word_ids;
  struct Candidate {
    int32_t rank, position, id, right_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };
  mutable std::vector<Candidate> heap;

  explicit Impl(std::shared_ptr<const Model> shared) : model(std::move(shared)) {
    if (model->regex) match_data.reset(pcre2_match_data_create_from_pattern(model->regex.get(), nullptr));
  }

  // BPE over the raw bytes of one piece (HF's algorithm: lowest rank first, leftmost among equals).
  void bpe(std::string_view piece, std::vector<int32_t>& out) const {
    if (model->ignore_merges) {
      auto whole = model->vocab.find(std::string(piece));
      if (whole != model->vocab.end()) {
        out.push_back(whole->second);
        return;
      }
    }
    symbols.resize(piece.size());
    prev.resize(piece.size());
    next.resize(piece.size());
    heap.clear();
    auto greater = std::greater<Candidate>();
    // One symbol per byte; a byte without a token is the unk token (fused with a preceding one when asked)
    // or nothing, so that its neighbours meet, as in HF's BPE.
    int32_t n = 0;
    for (char c : piece) {
      int32_t id = model->byte_token[static_cast<uint8_t>(c)];
      if (id < 0) {
        if (model->unk_id < 0 || (model->fuse_unk && n > 0 && symbols[n - 1] == model->unk_id)) continue;
        id = model->unk_id;
      }
      symbols[n++] = id;
    }
    for (int32_t i = 0; i < n; ++i) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    auto push_pair = [&](int32_t position) {
      if (position < 0) return;
      int32_t right = next[position];
      if (right < 0) return;
      if (const MergeTable::Merge* merge = model->merges.find(symbols[position], symbols[right])) {
        heap.push_back({merge->rank, position, merge->id, symbols[right]});
        std::push_heap(heap.begin(), heap.end(), greater);
      }
    };
    for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), greater);
      Candidate top = heap.back();
      heap.pop_back();
      int32_t right = next[top.position];
      // Stale: the symbol was merged away, or its neighbour changed since this pair was queued.
      if (symbols[top.position] < 0 || right < 0 || symbols[right] != top.right_id) continue;
      const MergeTable::Merge* merge = model->merges.find(symbols[top.position], symbols[right]);
      if (merge == nullptr || merge->id != top.id) continue;
      symbols[top.position] = top.id;
      symbols[right] = -1;
      next[top.position] = next[right];
      if (next[right] >= 0) prev[next[right]] = top.position;
      push_pair(prev[top.position]);
      push_pair(top.position);
    }
    for (int32_t i = 0; n > 0 && i >= 0 && i < n; i = next[i]) out.push_back(symbols[i]);
  }

  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    if (const std::vector<int32_t>* cached = cache.find(piece)) {
      out.insert(out.end(), cached->begin(), cached->end());
      return;
    }
    word_ids.clear();
    bpe(piece, word_ids);
    cache.insert(piece, word_ids);
    out.insert(out.end(), word_ids.begin(), word_ids.end());
  }

  // Text between added tokens: normalise, split, merge.
  void encode_segment(std::string_view segment, std::vector<int32_t>& out) const {
    if (segment.empty()) return;
    std::string_view text = model->nfc ? nfc(segment, normalized) : segment;
    if (model->add_prefix_space && text.front() != ' ') {
      prefixed.assign(1, ' ');
      prefixed.append(text);
      text = prefixed;
    }
    if (!model->regex) {
      encode_piece(text, out);
      return;
    }
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0;
    while (offset < text.size()) {
      int rc = pcre2_match(model->regex.get(), subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match_data.get(),
                           nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      ZT_CHECK(rc > 0, "pre-tokenizer regex match failed with code " << rc);
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.get());
      size_t start = ovector[0], end = ovector[1];
      if (start > offset) encode_piece(text.substr(offset, start - offset), out);  // unmatched gap: its own piece
      if (end == start) {  // an empty match: step over one character
        size_t step = static_cast<size_t>(std::max(1, utf8_sequence_length(static_cast<uint8_t>(text[start]))));
        encode_piece(text.substr(start, step), out);
        offset = start + step;
        continue;
      }
      encode_piece(text.substr(start, end - start), out);
      offset = end;
    }
    if (offset < text.size()) encode_piece(text.substr(offset), out);
  }
};

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::Tokenizer(const Tokenizer& other) : impl_(std::make_unique<Impl>(other.impl_->model)) {}
Tokenizer& Tokenizer::operator=(const Tokenizer& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(other.impl_->model);
  return *this;
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "tokenizer.json").string();
  ZT_REQUIRE(std::filesystem::exists(file), file << ": no tokenizer.json (ztune needs the fast-tokenizer file)");
  Tokenizer tokenizer;
  tokenizer.impl_ = std::make_unique<Impl>(load_model(file));
  return tokenizer;
}

void Tokenizer::encode_into(std::string_view text, std::vector<int32_t>& ids) const {
  const Impl& impl = *impl_;
  if (!is_valid_utf8(text)) {
    impl.sanitized = replace_invalid_utf8(text);
    text = impl.sanitized;
  }
  const AddedTrie& trie = impl.model->added_trie;
  size_t segment_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!trie.first_byte[static_cast<uint8_t>(text[i])]) continue;
    auto [token, length] = trie.longest(text.substr(i));
    if (token < 0) continue;
    impl.encode_segment(text.substr(segment_start, i - segment_start), ids);
    ids.push_back(token);
    i += length - 1;
    segment_start = i + 1;
  }
  impl.encode_segment(text.substr(segment_start), ids);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode_into(text, ids);
  return ids;
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  ZT_REQUIRE(id >= 0 && id < size(), "token id " << id << " is outside the vocabulary (size " << size() << ")");
  return impl_->model->id_bytes[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    if (id < 0 || id >= size()) continue;  // a row of the embedding with no token (as HF's decode skips it)
    bytes += token_bytes(id);
  }
  return replace_invalid_utf8(bytes);
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  std::string key(token);
  if (auto found = impl_->model->added.find(key); found != impl_->model->added.end()) return found->second;
  if (auto found = impl_->model->vocab.find(key); found != impl_->model->vocab.end()) return found->second;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < size() && impl_->model->special[static_cast<size_t>(id)] != 0;
}

int32_t Tokenizer::size() const { return static_cast<int32_t>(impl_->model->id_bytes.size()); }

std::string StreamDecoder::push(int32_t id) {
  if (id >= 0 && id < tokenizer_.size() && !(skip_special_ && tokenizer_.is_special(id)))
    pending_ += tokenizer_.token_bytes(id);
  // Everything goes out except a tail that may still become a character: the longest suffix (of at most
  // 3 bytes, after the valid prefix) that is an unfinished multi-byte sequence. Invalid bytes before it
  // are replaced now, exactly as decoding the whole text at once would replace them.
  const size_t valid = valid_utf8_prefix(pending_);
  size_t hold = 0;
  for (size_t k = std::min<size_t>(3, pending_.size() - valid); k >= 1 && hold == 0; --k)
    if (is_truncated_utf8(std::string_view(pending_).substr(pending_.size() - k))) hold = k;
  const size_t complete = pending_.size() - hold;
  std::string out = replace_invalid_utf8(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = replace_invalid_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace zt::data
