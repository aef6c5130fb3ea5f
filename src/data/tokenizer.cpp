#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/tokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <array>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/check.h"
#include "data/text_steps.h"
#include "data/tokenizer_model.h"
#include "data/utf8.h"

namespace zt::data {
namespace {

using nlohmann::json;
using namespace tokenizer_model;

}  // namespace

// A bounded cache from a pre-tokenized piece to its ids (outside the anonymous namespace: Tokenizer::Impl, a
// member of a class with linkage, holds one).
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

struct Tokenizer::Impl {
  std::shared_ptr<const Model> model;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match_data;
  mutable WordCache cache;
  // Scratch reused across calls.
  mutable std::string sanitized, normalized, prefixed;
  mutable std::vector<int32_t> symbols, prev, next, word_ids;
  mutable std::vector<TextPiece> pieces;
  struct Candidate {
    int32_t rank, position, id, right_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };
  mutable std::vector<Candidate> heap;

  explicit Impl(std::shared_ptr<const Model> shared) : model(std::move(shared)) {
    if (model->fast_regex) match_data.reset(pcre2_match_data_create_from_pattern(model->fast_regex.get(), nullptr));
  }

  // The first symbols of a piece: one per byte (byte-level) or per character, as HF's BPE makes them. Text
  // without a token becomes its "<0xXX>" tokens (byte_fallback), else the unk token (runs fused when fuse_unk),
  // else nothing, so that its neighbours meet. A pending unk is added before the next known symbol, not before
  // fallback bytes: tokenizers' order.
  int32_t initial_symbols(std::string_view piece) const {
    const Model& m = *model;
    symbols.resize(piece.size());
    int32_t n = 0;
    bool unk_pending = false;
    auto add_unk = [&] {
      if (m.unk_id < 0) return;
      if (unk_pending && !m.fuse_unk) symbols[n++] = m.unk_id;
      unk_pending = true;
    };
    for (size_t i = 0; i < piece.size();) {
      size_t length = 1;
      int32_t id = -1;
      if (m.byte_level) {
        id = m.byte_token[static_cast<uint8_t>(piece[i])];
      } else {
        length = static_cast<size_t>(std::max(1, utf8_sequence_length(static_cast<uint8_t>(piece[i]))));
        length = std::min(length, piece.size() - i);
        auto found = m.char_token.find(code_point_of(piece.substr(i, length)));
        if (found != m.char_token.end()) id = found->second;
      }
      if (id >= 0) {
        if (unk_pending) symbols[n++] = m.unk_id;
        unk_pending = false;
        symbols[n++] = id;
      } else if (m.byte_fallback && std::all_of(piece.begin() + static_cast<long>(i), piece.begin() + static_cast<long>(i + length),
                                                [&](char c) { return m.fallback_token[static_cast<uint8_t>(c)] >= 0; })) {
        for (size_t k = i; k < i + length; ++k) symbols[n++] = m.fallback_token[static_cast<uint8_t>(piece[k])];
      } else {
        add_unk();
      }
      i += length;
    }
    if (unk_pending) symbols[n++] = m.unk_id;
    return n;
  }

  // BPE over one piece (HF's algorithm: lowest rank first, leftmost among equals).
  void bpe(std::string_view piece, std::vector<int32_t>& out) const {
    if (model->ignore_merges) {
      auto whole = model->vocab.find(std::string(piece));
      if (whole != model->vocab.end()) {
        out.push_back(whole->second);
        return;
      }
    }
    const int32_t n = initial_symbols(piece);
    prev.resize(static_cast<size_t>(n));
    next.resize(static_cast<size_t>(n));
    heap.clear();
    auto greater = std::greater<Candidate>();
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

  // The byte-level families' pre-tokenizer: one regex, matches and the gaps between them are pieces.
  void encode_fast(std::string_view text, std::vector<int32_t>& out) const {
    if (model->pre_tokenizer->add_prefix_space() && text.front() != ' ') {
      prefixed.assign(1, ' ');
      prefixed.append(text);
      text = prefixed;
    }
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0;
    while (offset < text.size()) {
      int rc = pcre2_match(model->fast_regex.get(), subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match_data.get(),
                           nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      ZT_CHECK(rc > 0, "pre-tokenizer regex match failed with code " << rc);
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.get());
      size_t start = ovector[0], end = ovector[1];
      if (end == start) {  // an empty match cuts nothing: search again one character on
        if (start >= text.size()) break;
        offset = start + static_cast<size_t>(std::max(1, utf8_sequence_length(static_cast<uint8_t>(text[start]))));
        continue;
      }
      if (start > offset) encode_piece(text.substr(offset, start - offset), out);  // unmatched gap: its own piece
      encode_piece(text.substr(start, end - start), out);
      offset = end;
    }
    if (offset < text.size()) encode_piece(text.substr(offset), out);
  }

  // Normalised text between added tokens: pre-tokenize, merge.
  void encode_normalized(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    if (model->fast_regex) return encode_fast(text, out);
    model->pre_tokenizer->split(text, at_start, pieces);
    for (const TextPiece& piece : pieces) encode_piece(piece.text, out);
  }

  // Raw text between added tokens: normalise, split out the normalised added tokens, encode the rest.
  void encode_segment(std::string_view segment, bool at_start, std::vector<int32_t>& out) const {
    if (segment.empty()) return;
    std::string_view text = model->normalizer->apply(segment, normalized);
    if (model->normalized_added.nodes.size() == 1) return encode_normalized(text, at_start, out);
    const std::string owned(text);  // the normaliser's scratch is reused below
    split_added(owned, model->normalized_added, out, [&](std::string_view part, size_t begin) {
      encode_normalized(part, at_start && begin == 0, out);
    });
  }

  // Calls `encode(text, begin)` for the text between the added tokens of `trie` (leftmost-longest), which go
  // straight to `out`.
  template <class Encode>
  static void split_added(std::string_view text, const AddedTrie& trie, std::vector<int32_t>& out, Encode&& encode) {
    size_t segment_start = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      if (!trie.first_byte[static_cast<uint8_t>(text[i])]) continue;
      auto [token, length] = trie.longest(text.substr(i));
      if (token < 0) continue;
      encode(text.substr(segment_start, i - segment_start), segment_start);
      out.push_back(token);
      i += length - 1;
      segment_start = i + 1;
    }
    encode(text.substr(segment_start), segment_start);
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
  Tokenizer tokenizer;
  tokenizer.impl_ = std::make_unique<Impl>(load_tokenizer_model(path));
  return tokenizer;
}

std::string Tokenizer::describe() const {
  const Model& model = *impl_->model;
  std::string text = std::string(model.byte_level ? "byte-level" : "character") + " BPE" +
                     (model.byte_fallback ? " with byte fallback" : "") + ", " + std::to_string(size()) + " ids";
  if (!model.pipeline.empty()) text += ", pipeline of transformers' " + model.pipeline + " (as AutoTokenizer builds it)";
  return text;
}

void Tokenizer::encode_into(std::string_view text, std::vector<int32_t>& ids) const {
  const Impl& impl = *impl_;
  if (!is_valid_utf8(text)) {
    impl.sanitized = replace_invalid_utf8(text);
    text = impl.sanitized;
  }
  Impl::split_added(text, impl.model->raw_added, ids, [&](std::string_view segment, size_t begin) {
    impl.encode_segment(segment, begin == 0, ids);
  });
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode_into(text, ids);
  return ids;
}

const std::vector<int32_t>& Tokenizer::special_prefix() const { return impl_->model->special_prefix; }
const std::vector<int32_t>& Tokenizer::special_suffix() const { return impl_->model->special_suffix; }

const std::string& Tokenizer::token_bytes(int32_t id) const {
  ZT_REQUIRE(id >= 0 && id < size(), "token id " << id << " is outside the vocabulary (size " << size() << ")");
  return impl_->model->id_bytes[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Model& model = *impl_->model;
  auto kept = [&](int32_t id) {
    // Ids past the vocabulary (embedding rows with no token) are skipped, as HF's decode skips them.
    return id >= 0 && id < size() && !(skip_special_tokens && is_special(id));
  };
  if (model.decode_by_bytes) {
    std::string bytes;
    for (int32_t id : ids)
      if (kept(id)) bytes += model.id_bytes[static_cast<size_t>(id)];
    return replace_invalid_utf8(bytes);
  }
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids)
    if (kept(id)) tokens.push_back(model.id_spelling[static_cast<size_t>(id)]);
  return model.decoder->decode(std::move(tokens));
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

// As tokenizers' DecodeStream: decode a window of ids and emit what it adds to the window's previous text,
// holding back while the text ends in U+FFFD (a character still incomplete). The window restarts at the last
// emitted token, so decoders that treat the first token specially (Metaspace) agree with a whole decode.
std::string StreamDecoder::push(int32_t id) {
  if (!(id >= 0 && id < tokenizer_.size() && !(skip_special_ && tokenizer_.is_special(id)))) return "";
  ids_.push_back(id);
  std::string text = tokenizer_.decode(ids_, false);
  const bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
  if (text.size() <= prefix_.size() || incomplete) return "";
  std::string added = text.compare(0, prefix_.size(), prefix_) == 0 ? text.substr(prefix_.size()) : text;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<long>(prefix_index_));
  prefix_index_ = ids_.size();
  prefix_ = tokenizer_.decode(ids_, false);
  return added;
}

std::string StreamDecoder::finish() {
  std::string text = tokenizer_.decode(ids_, false);
  std::string rest = text.size() > prefix_.size() ? text.substr(prefix_.size()) : "";
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
  return rest;
}

}  // namespace zt::data
