// BPE tokenizer loaded from a Hugging Face tokenizer.json: byte-level (Qwen2/2.5/3, Llama-3, GPT-2, SmolLM2)
// or SentencePiece-style over characters with byte fallback (Llama-2, Mistral, Yi).
//
// encode, as HF `tokenizers` with add_special_tokens=False: added tokens are split out first
// (leftmost-longest), the rest goes through the normalizer, the pre-tokenizer (the byte-level families' one
// regex runs in a fast loop; PCRE2, JIT) and BPE over each piece's bytes or characters (data/text_steps.h).
// Pieces are cached, so common words cost one hash lookup. Invalid UTF-8 is replaced the way Python's
// decode(errors="replace") does before anything else, as HF sees such text.
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
  // naming the file and the JSON path. A folder tokenizes as transformers' AutoTokenizer loads it: the
  // classes that build their own pipeline (LlamaTokenizer, GPT2Tokenizer, Qwen2Tokenizer, chosen from
  // tokenizer_config.json and config.json as transformers 5 chooses) replace the file's normalizer,
  // pre-tokenizer and decoder; a tokenizer.json path is read as `tokenizers` reads it.
  static Tokenizer load(const std::string& path);
  // One line for the log: kind, size, and the transformers class whose pipeline applies.
  std::string describe() const;
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
  // Raw bytes of one token (may be part of a multi-byte character); for character-level vocabularies, the
  // token as spelled (with its "\u2581" for a space).
  const std::string& token_bytes(int32_t id) const;
  // What the post-processor puts around one sequence when asked for special tokens (e.g. Llama-2's <s>).
  const std::vector<int32_t>& special_prefix() const;
  const std::vector<int32_t>& special_suffix() const;

  std::optional<int32_t> token_id(std::string_view token) const;  // an added token or a vocab entry
  bool is_special(int32_t id) const;
  int32_t size() const;  // ids in use (vocab + added tokens): max id + 1

 private:
  struct Impl;
  Tokenizer();
  std::unique_ptr<Impl> impl_;
};

// Turns ids into text as they are generated without ever splitting a multi-byte character; the pieces joined
// equal decode() of all the ids.
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
  std::vector<int32_t> ids_;  // the window: from the last emitted token on
  std::string prefix_;        // decode of the window's first prefix_index_ ids
  size_t prefix_index_ = 0;
};

}  // namespace zt::data
