// What ztune reads of a tokenizer.json (and of the folder around it): the vocabulary, merges, added tokens,
// normalizer, pre-tokenizer, decoder and post-processor, with the pipeline transformers' tokenizer class puts
// in place of the file's where AutoTokenizer does (Llama, GPT-2, Qwen2). Loading is here; tokenizer.cpp runs
// BPE over it and encodes and decodes.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/check.h"
#include "data/text_steps.h"

namespace zt::data::tokenizer_model {

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

// The code point of a string holding one UTF-8 character.
inline uint32_t code_point_of(std::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  if (text.size() == 1) return bytes[0];
  uint32_t code = bytes[0] & (0xFF >> (text.size() + 1));
  for (size_t k = 1; k < text.size(); ++k) code = (code << 6) | (bytes[k] & 0x3F);
  return code;
}

// Everything read from tokenizer.json; immutable and shared by copies.
struct Model {
  std::string path;
  bool byte_level = false;              // pieces are merged over bytes (ByteLevel pre-tokenizer), else characters
  std::vector<std::string> id_bytes;    // what each id stands for in the text (added tokens: their content)
  std::vector<std::string> id_spelling; // the token as tokenizer.json spells it, for the decoder
  std::vector<uint8_t> special;         // 1 for special added tokens
  std::unordered_map<std::string, int32_t> vocab;  // id_bytes -> id
  std::unordered_map<std::string, int32_t> added;  // content -> id
  std::array<int32_t, 256> byte_token{};           // byte-level: the token of each byte, -1 if none
  std::unordered_map<uint32_t, int32_t> char_token; // character-level: the token of each character
  std::array<int32_t, 256> fallback_token{};       // byte_fallback: the id of "<0xXX>", -1 if none
  bool byte_fallback = false;
  int32_t unk_id = -1;  // model.unk_token: stands for what has no token
  bool fuse_unk = false;
  bool ignore_merges = false;
  MergeTable merges;
  AddedTrie raw_added;         // added tokens matched in the raw text
  AddedTrie normalized_added;  // added tokens with "normalized": true, matched after the normalizer
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Decoder> decoder;
  bool decode_by_bytes = false;  // the decoder is ByteLevel alone: decoding joins id_bytes
  std::vector<int32_t> special_prefix, special_suffix;  // the post-processor's tokens around one sequence
  std::unique_ptr<pcre2_code, RegexDeleter> fast_regex;  // the byte-level families' one split
  std::string pipeline;  // the transformers class whose pipeline replaced the file's, or ""
};

// A folder (its tokenizer.json, tokenizer_config.json and config.json) or a tokenizer.json file; a zt::Error
// naming the file and what it holds that ztune does not read.
std::shared_ptr<const Model> load_tokenizer_model(const std::string& path);

}  // namespace zt::data::tokenizer_model
