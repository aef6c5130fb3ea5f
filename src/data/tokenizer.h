// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (Qwen2/2.5/3, Llama-3, GPT-2 style).
//
// encode: added tokens are split out first (leftmost-longest), the rest is NFC-normalised when the
// tokenizer says so, split by the pre-tokenizer regex (PCRE2, JIT) and each piece BPE-merged over its raw
// bytes. Pieces are cached, so common words cost one hash lookup. Invalid UTF-8 is replaced the way
// Python's decode(errors="replace") does before anything else, as HF sees such text.
// A Tokenizer is not thread-safe (the word cache); give each thread its own copy.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zt::data {

class Tokenizer {
 public:
  // Reads `path` (a tokenizer.json, or a folder holding one); unsupported features are a zt::Error
  // naming the file and the feature.
  static Tokenizer load(const std::string& path);
  Tokenizer(const Tokenizer& other);
  Tokenizer& operator=(const Tokenizer& other);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  // Appends to `ids` (no allocation in steady state).
  void encode_into(std::string_view text, std::vector<int32_t>& ids) const;

  // Bytes of the tokens joined, invalid UTF-8 replaced by U+FFFD (as HF's ByteLevel decoder); ids with no
  // token (embedding rows past the vocabulary) are skipped, as HF's decode skips them.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  // Raw bytes of one token (may be part of a multi-byte character).
  const std::string& token_bytes(int32_t id) const;

  std::optional<int32_t> token_id(std::string_view token) const;  // an added token or a vocab entry
  bool is_special(int32_t id) const;
  int32_t size() const;  // ids in use (vocab + added tokens): max id + 1

 private:
  struct Impl;
  Tokenizer();
  std::unique_ptr<Impl> impl_;
};

// Turns ids into text as they are generated without ever splitting a multi-byte character.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true)
      : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}
  // Text that became complete with this token (may be empty).
  std::string push(int32_t id);
  // What remains at the end (an incomplete character becomes U+FFFD).
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace zt::data
