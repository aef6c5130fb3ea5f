#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/text_steps.h"

#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/utf8.h"

namespace zt::data {

using nlohmann::json;

namespace {

[[noreturn]] void unsupported(const std::string& file, const std::string& where, const std::string& what) {
  ZT_THROW(file << ": " << where << " = " << what << " is not supported by ztune's tokenizer; ztune reads BPE "
                << "tokenizers (byte-level as Qwen/Llama-3/GPT-2, or SentencePiece-style with byte fallback as "
                << "Llama-2/Mistral)");
}

// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_white_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string single_char(const json& spec, const char* key, const std::string& file, const std::string& where) {
  const std::string text = spec.value(key, std::string());
  if (text.empty() || code_point_at(text, 0).second != text.size())
    unsupported(file, where + "." + key, json(text).dump() + " (one character expected)");
  return text;
}

// The "pattern" of Split and Replace: {"String": s} or {"Regex": r}.
std::unique_ptr<TextPattern> read_pattern(const json& spec, const std::string& file, const std::string& where) {
  const json pattern = spec.value("pattern", json());
  if (pattern.is_object() && pattern.contains("String"))
    return std::make_unique<TextPattern>(pattern["String"].get<std::string>(), true, file + ": " + where + ".pattern");
  if (pattern.is_object() && pattern.contains("Regex"))
    return std::make_unique<TextPattern>(pattern["Regex"].get<std::string>(), false, file + ": " + where + ".pattern");
  unsupported(file, where + ".pattern", pattern.dump());
}

std::string replace_matches(std::string_view text, const TextPattern& pattern, const std::string& content) {
  std::vector<std::pair<size_t, size_t>> spans;
  pattern.find_all(text, spans);
  std::string out;
  size_t at = 0;
  for (auto [begin, end] : spans) {
    out.append(text.substr(at, begin - at));
    out.append(content);
    at = end;
  }
  out.append(text.substr(at));
  return out;
}

}  // namespace

// ---- patterns ----

TextPattern::TextPattern(const std::string& pattern, bool literal, const std::string& where) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  uint32_t options = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;  // LITERAL admits no UCP
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error_code,
                                   &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    ZT_THROW(where << ": the regex does not compile at offset " << error_offset << ": "
                   << reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // the interpreter runs it where JIT is unavailable
  code_ = code;
}

TextPattern::~TextPattern() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void TextPattern::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& spans) const {
  struct MatchData {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);  // only the whole match is read
    ~MatchData() { pcre2_match_data_free(data); }
  };
  thread_local MatchData match;
  spans.clear();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset <= text.size()) {
    int rc = pcre2_match(static_cast<pcre2_code*>(code_), subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match.data,
                         nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    ZT_CHECK(rc >= 0, "tokenizer regex match failed with code " << rc);
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
    size_t begin = ovector[0], end = ovector[1];
    if (end == begin) {  // an empty match cuts nothing: search again one character on
      if (begin >= text.size()) break;
      offset = begin + code_point_at(text, begin).second;
      continue;
    }
    spans.emplace_back(begin, end);
    offset = end;
  }
}

uint32_t byte_level_char(uint8_t byte) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> codes{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      codes[b] = printable ? b : next++;
    }
    return codes;
  }();
  return table[byte];
}

bool byte_level_decode(std::string_view token, std::string& out) {
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> table;
    table.fill(-1);
    for (int b = 0; b < 256; ++b) table[byte_level_char(static_cast<uint8_t>(b))] = static_cast<int16_t>(b);
    return table;
  }();
  out.clear();
  for (size_t i = 0; i < token.size();) {
    if (utf8_sequence_length(static_cast<uint8_t>(token[i])) == 0) return false;
    auto [code, length] = code_point_at(token, i);
    if (code >= inverse.size() || inverse[code] < 0) return false;
    out.push_back(static_cast<char>(inverse[code]));
    i += length;
  }
  return true;
}

// ---- normalizer ----

struct NormalizerStep {
  enum class Kind { unicode, lowercase, prepend, replace, strip } kind;
  int unicode_options = 0;  // utf8proc options of NFC, NFD, NFKC, NFKD
  bool nfc = false;
  std::string text;         // Prepend's prefix, Replace's content
  std::unique_ptr<TextPattern> pattern;
  bool strip_left = false, strip_right = false;

  std::string apply(std::string_view input) const {
    switch (kind) {
      case Kind::unicode: {
        if (nfc) {
          std::string scratch;
          return std::string(data::nfc(input, scratch));
        }
        utf8proc_uint8_t* mapped = nullptr;
        utf8proc_ssize_t length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(input.data()),
                                               static_cast<utf8proc_ssize_t>(input.size()), &mapped,
                                               static_cast<utf8proc_option_t>(unicode_options));
        ZT_CHECK(length >= 0, "utf8proc_map failed: " << utf8proc_errmsg(length));
        std::string out(reinterpret_cast<const char*>(mapped), static_cast<size_t>(length));
        std::free(mapped);
        return out;
      }
      case Kind::lowercase: {
        std::string out;
        out.reserve(input.size());
        for (size_t i = 0; i < input.size();) {
          auto [code, length] = code_point_at(input, i);
          if (code == 0x130) out.append("i\xCC\x87");  // the one unconditional multi-character lowercase
          else append_code_point(static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(code))), out);
          i += length;
        }
        return out;
      }
      case Kind::prepend: return input.empty() ? std::string() : text + std::string(input);
      case Kind::replace: return replace_matches(input, *pattern, text);
      case Kind::strip: {
        size_t begin = 0, end = input.size();
        while (strip_left && begin < end && is_white_space(code_point_at(input, begin).first))
          begin += code_point_at(input, begin).second;
        while (strip_right && end > begin) {
          size_t last = end - 1;
          while (last > begin && (static_cast<uint8_t>(input[last]) & 0xC0) == 0x80) --last;
          if (!is_white_space(code_point_at(input, last).first)) break;
          end = last;
        }
        return std::string(input.substr(begin, end - begin));
      }
    }
    return std::string(input);
  }
};

namespace {

void read_normalizer(const json& spec, const std::string& file, const std::string& where,
                     std::vector<std::shared_ptr<const NormalizerStep>>& steps) {
  if (spec.is_null()) return;
  const std::string type = spec.value("type", "");
  auto step = std::make_shared<NormalizerStep>();
  using Kind = NormalizerStep::Kind;
  if (type == "Sequence") {
    size_t i = 0;
    for (const json& inner : spec.at("normalizers"))
      read_normalizer(inner, file, where + ".normalizers[" + std::to_string(i++) + "]", steps);
    return;
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    step->kind = Kind::unicode;
    step->nfc = type == "NFC";
    step->unicode_options = UTF8PROC_STABLE | (type[2] == 'C' || type[3] == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE) |
                            (type[2] == 'K' ? UTF8PROC_COMPAT : 0);
  } else if (type == "Lowercase") {
    step->kind = Kind::lowercase;
  } else if (type == "Prepend") {
    step->kind = Kind::prepend;
    step->text = spec.at("prepend").get<std::string>();
  } else if (type == "Replace") {
    step->kind = Kind::replace;
    step->pattern = read_pattern(spec, file, where);
    step->text = spec.at("content").get<std::string>();
  } else if (type == "Strip") {
    step->kind = Kind::strip;
    step->strip_left = spec.value("strip_left", false);
    step->strip_right = spec.value("strip_right", false);
  } else {
    unsupported(file, where + ".type", json(type).dump());
  }
  steps.push_back(std::move(step));
}

}  // namespace

Normalizer::Normalizer(const json& spec, const std::string& file, const std::string& where) {
  read_normalizer(spec, file, where, steps_);
}
Normalizer::~Normalizer() = default;

bool Normalizer::nfc_only() const {
  return steps_.size() == 1 && steps_[0]->kind == NormalizerStep::Kind::unicode && steps_[0]->nfc;
}

std::string_view Normalizer::apply(std::string_view text, std::string& scratch) const {
  if (steps_.empty()) return text;
  if (nfc_only()) return nfc(text, scratch);
  std::string current(text);
  for (const auto& step : steps_) current = step->apply(current);
  scratch = std::move(current);
  return scratch;
}

// ---- pre-tokenizer ----

enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

struct PreTokenizerStep {
  enum class Kind { split, metaspace, prefix_space } kind;
  std::unique_ptr<TextPattern> pattern;
  SplitBehavior behavior = SplitBehavior::isolated;
  bool invert = false;
  std::string replacement;  // Metaspace
  enum class Prepend { always, first, never } prepend = Prepend::always;
  bool metaspace_split = true;

  // Cuts one piece as tokenizers' NormalizedString::split does with `behavior`.
  void cut(const TextPiece& piece, const TextPattern& by, SplitBehavior how, bool inverted,
           std::vector<TextPiece>& out) const {
    std::vector<std::pair<size_t, size_t>> matches;
    by.find_all(piece.text, matches);
    struct Span {
      size_t begin, end;
      bool match;
    };
    std::vector<Span> spans;
    size_t at = 0;
    for (auto [begin, end] : matches) {
      if (begin > at) spans.push_back({at, begin, inverted});
      spans.push_back({begin, end, !inverted});
      at = end;
    }
    if (at < piece.text.size() || spans.empty()) spans.push_back({at, piece.text.size(), inverted});
    std::vector<Span> kept;  // `match` now means "remove"
    bool previous_match = false;
    switch (how) {
      case SplitBehavior::removed: kept = spans; break;
      case SplitBehavior::isolated:
        for (const Span& span : spans) kept.push_back({span.begin, span.end, false});
        break;
      case SplitBehavior::contiguous:
        for (const Span& span : spans) {
          if (span.match == previous_match && !kept.empty()) kept.back().end = span.end;
          else kept.push_back({span.begin, span.end, false});
          previous_match = span.match;
        }
        break;
      case SplitBehavior::merged_with_previous:
        for (const Span& span : spans) {
          if (span.match && !previous_match && !kept.empty()) kept.back().end = span.end;
          else kept.push_back({span.begin, span.end, false});
          previous_match = span.match;
        }
        break;
      case SplitBehavior::merged_with_next:
        for (size_t i = spans.size(); i-- > 0;) {
          const Span& span = spans[i];
          if (span.match && !previous_match && !kept.empty()) kept.back().begin = span.begin;
          else kept.push_back({span.begin, span.end, false});
          previous_match = span.match;
        }
        std::reverse(kept.begin(), kept.end());
        break;
    }
    for (const Span& span : kept)
      if (!span.match && span.end > span.begin)
        out.push_back({piece.text.substr(span.begin, span.end - span.begin), piece.at_start && span.begin == 0});
  }

  void apply(std::vector<TextPiece>& pieces) const {
    std::vector<TextPiece> out;
    for (TextPiece& piece : pieces) {
      switch (kind) {
        case Kind::split: cut(piece, *pattern, behavior, invert, out); break;
        case Kind::prefix_space:
          if (piece.text.empty() || piece.text[0] != ' ') piece.text.insert(0, 1, ' ');
          out.push_back(std::move(piece));
          break;
        case Kind::metaspace: {
          std::string text;
          for (char c : piece.text) {
            if (c == ' ') text += replacement;
            else text += c;
          }
          const bool starts = text.compare(0, replacement.size(), replacement) == 0;
          if (!starts && (prepend == Prepend::always || (prepend == Prepend::first && piece.at_start)))
            text.insert(0, replacement);
          TextPiece replaced{std::move(text), piece.at_start};
          if (metaspace_split) cut(replaced, *pattern, SplitBehavior::merged_with_next, false, out);
          else if (!replaced.text.empty()) out.push_back(std::move(replaced));
          break;
        }
      }
    }
    pieces = std::move(out);
  }
};

namespace {

// GPT-2's split, which ByteLevel(use_regex=true) applies.
constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::shared_ptr<PreTokenizerStep> split_step(const std::string& pattern, bool literal, SplitBehavior behavior,
                                             bool invert, const std::string& where) {
  auto step = std::make_shared<PreTokenizerStep>();
  step->kind = PreTokenizerStep::Kind::split;
  step->pattern = std::make_unique<TextPattern>(pattern, literal, where);
  step->behavior = behavior;
  step->invert = invert;
  return step;
}

SplitBehavior read_behavior(const json& spec, const std::string& file, const std::string& where) {
  const std::string name = spec.value("behavior", "Isolated");
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  unsupported(file, where + ".behavior", json(name).dump());
}

struct PreTokenizerReader {
  const std::string& file;
  std::vector<std::shared_ptr<const PreTokenizerStep>>& steps;
  bool byte_level = false;

  void read(const json& spec, const std::string& where) {
    if (spec.is_null()) return;
    const std::string type = spec.value("type", "");
    const std::string at = file + ": " + where;
    if (type == "Sequence") {
      size_t i = 0;
      for (const json& inner : spec.at("pretokenizers")) read(inner, where + ".pretokenizers[" + std::to_string(i++) + "]");
    } else if (type == "Split") {
      auto step = std::make_shared<PreTokenizerStep>();
      step->kind = PreTokenizerStep::Kind::split;
      step->pattern = read_pattern(spec, file, where);
      step->behavior = read_behavior(spec, file, where);
      step->invert = spec.value("invert", false);
      steps.push_back(std::move(step));
    } else if (type == "ByteLevel") {
      byte_level = true;
      if (spec.value("add_prefix_space", false)) {
        auto step = std::make_shared<PreTokenizerStep>();
        step->kind = PreTokenizerStep::Kind::prefix_space;
        steps.push_back(std::move(step));
      }
      if (spec.value("use_regex", true)) steps.push_back(split_step(kGpt2Regex, false, SplitBehavior::isolated, false, at));
    } else if (type == "Digits") {
      steps.push_back(split_step(spec.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)", false,
                                 SplitBehavior::isolated, false, at));
    } else if (type == "Whitespace") {  // onig's \w: letters, marks, decimal digits, connector punctuation
      steps.push_back(split_step(R"([\p{L}\p{M}\p{Nd}\p{Pc}]+|[^\p{L}\p{M}\p{Nd}\p{Pc}\s]+)", false,
                                 SplitBehavior::removed, true, at));
    } else if (type == "WhitespaceSplit") {
      steps.push_back(split_step(R"([\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}])",
                                 false, SplitBehavior::removed, false, at));
    } else if (type == "CharDelimiterSplit") {
      steps.push_back(split_step(single_char(spec, "delimiter", file, where), true, SplitBehavior::removed, false, at));
    } else if (type == "Metaspace") {
      auto step = std::make_shared<PreTokenizerStep>();
      step->kind = PreTokenizerStep::Kind::metaspace;
      step->replacement = single_char(spec, "replacement", file, where);
      step->pattern = std::make_unique<TextPattern>(step->replacement, true, at);
      step->metaspace_split = spec.value("split", true);
      const std::string scheme = spec.value("prepend_scheme", spec.value("add_prefix_space", true) ? "always" : "never");
      if (scheme == "always") step->prepend = PreTokenizerStep::Prepend::always;
      else if (scheme == "first") step->prepend = PreTokenizerStep::Prepend::first;
      else if (scheme == "never") step->prepend = PreTokenizerStep::Prepend::never;
      else unsupported(file, where + ".prepend_scheme", json(scheme).dump());
      steps.push_back(std::move(step));
    } else {
      unsupported(file, where + ".type", json(type).dump());
    }
  }
};

}  // namespace

PreTokenizer::PreTokenizer(const json& spec, const std::string& file, const std::string& where) {
  PreTokenizerReader reader{file, steps_};
  reader.read(spec, where);
  byte_level_ = reader.byte_level;
  // The fast loop's shape: [prefix space] + one Isolated, non-inverted regex split.
  size_t first = 0;
  if (!steps_.empty() && steps_[0]->kind == PreTokenizerStep::Kind::prefix_space) {
    add_prefix_space_ = true;
    first = 1;
  }
  single_split_ = steps_.size() == first + 1 && steps_[first]->kind == PreTokenizerStep::Kind::split &&
                  steps_[first]->behavior == SplitBehavior::isolated && !steps_[first]->invert;
  if (single_split_) {
    const json& pattern_spec = spec.value("type", "") == "Sequence" ? spec.at("pretokenizers")[first] : spec;
    if (pattern_spec.value("type", "") == "ByteLevel") fast_pattern_ = kGpt2Regex;
    else if (pattern_spec.value("type", "") == "Split" && pattern_spec.at("pattern").contains("Regex"))
      fast_pattern_ = pattern_spec["pattern"]["Regex"].get<std::string>();
    else single_split_ = false;
  }
}
PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, bool at_start, std::vector<TextPiece>& out) const {
  out.clear();
  out.push_back({std::string(text), at_start});
  for (const auto& step : steps_) step->apply(out);
}

// ---- decoder ----

struct DecoderStep {
  enum class Kind { byte_level, metaspace, replace, byte_fallback, fuse, strip } kind;
  std::string replacement;  // Metaspace
  bool strip_first = true;  // Metaspace: prepend scheme other than "never"
  std::unique_ptr<TextPattern> pattern;
  std::string content;      // Replace's content, Strip's character
  size_t strip_start = 0, strip_stop = 0;

  void apply(std::vector<std::string>& tokens) const {
    switch (kind) {
      case Kind::byte_level: {
        std::string bytes, raw;
        for (const std::string& token : tokens) bytes += byte_level_decode(token, raw) ? raw : token;
        tokens.assign(1, replace_invalid_utf8(bytes));
        break;
      }
      case Kind::metaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          std::string out;
          const std::string& token = tokens[i];
          for (size_t at = 0; at < token.size();) {
            if (token.compare(at, replacement.size(), replacement) == 0) {
              if (!(i == 0 && strip_first)) out += ' ';
              at += replacement.size();
            } else {
              out += token[at++];
            }
          }
          tokens[i] = std::move(out);
        }
        break;
      case Kind::replace:
        for (std::string& token : tokens) token = replace_matches(token, *pattern, content);
        break;
      case Kind::byte_fallback: {
        std::vector<std::string> out;
        std::string run;
        size_t run_length = 0;
        auto flush = [&] {
          if (run_length == 0) return;
          if (is_valid_utf8(run)) out.push_back(run);
          else for (size_t k = 0; k < run_length; ++k) out.emplace_back("\xEF\xBF\xBD");
          run.clear();
          run_length = 0;
        };
        for (std::string& token : tokens) {
          if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' && std::isxdigit(token[3]) &&
              std::isxdigit(token[4])) {
            run.push_back(static_cast<char>(std::strtoul(token.substr(3, 2).c_str(), nullptr, 16)));
            ++run_length;
          } else {
            flush();
            out.push_back(std::move(token));
          }
        }
        flush();
        tokens = std::move(out);
        break;
      }
      case Kind::fuse: {
        std::string joined;
        for (const std::string& token : tokens) joined += token;
        tokens.assign(1, std::move(joined));
        break;
      }
      case Kind::strip:
        for (std::string& token : tokens) {
          size_t begin = 0, end = token.size();
          for (size_t k = 0; k < strip_start && token.compare(begin, content.size(), content) == 0; ++k)
            begin += content.size();
          for (size_t k = 0; k < strip_stop && end >= begin + content.size() &&
                             token.compare(end - content.size(), content.size(), content) == 0;
               ++k)
            end -= content.size();
          token = token.substr(begin, end - begin);
        }
        break;
    }
  }
};

namespace {

void read_decoder(const json& spec, const std::string& file, const std::string& where,
                  std::vector<std::shared_ptr<const DecoderStep>>& steps, bool& byte_level) {
  if (spec.is_null()) return;
  const std::string type = spec.value("type", "");
  auto step = std::make_shared<DecoderStep>();
  using Kind = DecoderStep::Kind;
  if (type == "Sequence") {
    size_t i = 0;
    for (const json& inner : spec.at("decoders"))
      read_decoder(inner, file, where + ".decoders[" + std::to_string(i++) + "]", steps, byte_level);
    return;
  } else if (type == "ByteLevel") {
    step->kind = Kind::byte_level;
    byte_level = true;
  } else if (type == "Metaspace") {
    step->kind = Kind::metaspace;
    step->replacement = single_char(spec, "replacement", file, where);
    const std::string scheme = spec.value("prepend_scheme", spec.value("add_prefix_space", true) ? "always" : "never");
    step->strip_first = scheme != "never";
  } else if (type == "Replace") {
    step->kind = Kind::replace;
    step->pattern = read_pattern(spec, file, where);
    step->content = spec.at("content").get<std::string>();
  } else if (type == "ByteFallback") {
    step->kind = Kind::byte_fallback;
  } else if (type == "Fuse") {
    step->kind = Kind::fuse;
  } else if (type == "Strip") {
    step->kind = Kind::strip;
    step->content = single_char(spec, "content", file, where);
    step->strip_start = spec.value("start", size_t{0});
    step->strip_stop = spec.value("stop", size_t{0});
  } else {
    unsupported(file, where + ".type", json(type).dump());
  }
  steps.push_back(std::move(step));
}

}  // namespace

Decoder::Decoder(const json& spec, const std::string& file, const std::string& where) {
  none_ = spec.is_null();
  read_decoder(spec, file, where, steps_, byte_level_);
}
Decoder::~Decoder() = default;

std::string Decoder::decode(std::vector<std::string> tokens) const {
  std::string text;
  if (none_) {
    for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
    return replace_invalid_utf8(text);
  }
  for (const auto& step : steps_) step->apply(tokens);
  for (const std::string& token : tokens) text += token;
  return replace_invalid_utf8(text);
}

}  // namespace zt::data
