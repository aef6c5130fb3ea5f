// The text stages of a Hugging Face tokenizer.json around its BPE model: normalizer, pre-tokenizer and
// decoder, read from the file with the JSON path of anything unsupported in the error.
//
// Each stage is a short list of steps applied in order, as `tokenizers` applies a Sequence. The steps follow
// `tokenizers` 0.2x exactly where they are ambiguous (Metaspace's "first" prepend scheme looks at the piece's
// offset in the original text; the Metaspace decoder drops every replacement character of the first token;
// ByteFallback turns an invalid byte run into one U+FFFD per byte; no decoder joins tokens with spaces).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace zt::data {

// A compiled PCRE2 pattern (UTF, Unicode properties, JIT) or literal string.
class TextPattern {
 public:
  // `where` names the JSON path for a pattern that does not compile.
  TextPattern(const std::string& pattern, bool literal, const std::string& where);
  ~TextPattern();
  TextPattern(const TextPattern&) = delete;
  TextPattern& operator=(const TextPattern&) = delete;
  // Non-empty matches of `text`, left to right, as (begin, end) byte offsets; an empty match steps one character.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& spans) const;

 private:
  void* code_;  // pcre2_code_8
};

// A piece of text between the pre-tokenizer's cuts; `at_start`: it begins where the input began.
struct TextPiece {
  std::string text;
  bool at_start = false;
};

struct NormalizerStep;
struct PreTokenizerStep;
struct DecoderStep;

class Normalizer {
 public:
  // `file` names the tokenizer.json in errors; `where` is the JSON path of `spec` ("normalizer").
  Normalizer(const nlohmann::json& spec, const std::string& file, const std::string& where);
  ~Normalizer();
  bool empty() const { return steps_.empty(); }
  // Only NFC (the byte-level families' one normaliser): the fast path of the encoder may use nfc() instead.
  bool nfc_only() const;
  // The normalised text: `text` itself when nothing applies, else a view of `scratch`.
  std::string_view apply(std::string_view text, std::string& scratch) const;

 private:
  std::vector<std::shared_ptr<const NormalizerStep>> steps_;
};

class PreTokenizer {
 public:
  PreTokenizer(const nlohmann::json& spec, const std::string& file, const std::string& where);
  ~PreTokenizer();
  // The byte-level families' shape: an optional ByteLevel prefix space and one Isolated regex split. Such a
  // pre-tokenizer is run by the encoder's fast loop with `fast_pattern()`.
  bool is_single_isolated_split() const { return single_split_; }
  const std::string& fast_pattern() const { return fast_pattern_; }
  bool add_prefix_space() const { return add_prefix_space_; }
  // True when ByteLevel appears: the vocabulary is in GPT-2's byte alphabet.
  bool byte_level() const { return byte_level_; }
  // Cuts `text` into pieces (the general path).
  void split(std::string_view text, bool at_start, std::vector<TextPiece>& out) const;

 private:
  std::vector<std::shared_ptr<const PreTokenizerStep>> steps_;
  bool single_split_ = false;
  bool add_prefix_space_ = false;
  bool byte_level_ = false;
  std::string fast_pattern_;
};

class Decoder {
 public:
  Decoder(const nlohmann::json& spec, const std::string& file, const std::string& where);
  ~Decoder();
  bool byte_level() const { return byte_level_; }
  // Joins token strings (vocabulary spelling, added tokens' content) into text, invalid UTF-8 replaced.
  std::string decode(std::vector<std::string> tokens) const;

 private:
  std::vector<std::shared_ptr<const DecoderStep>> steps_;
  bool byte_level_ = false;
  bool none_ = true;  // no decoder at all: tokens joined with spaces, as tokenizers does
};

// GPT-2's byte alphabet: the printable stand-in of each byte, and back (false: a character outside it).
uint32_t byte_level_char(uint8_t byte);
bool byte_level_decode(std::string_view token, std::string& out);

}  // namespace zt::data
