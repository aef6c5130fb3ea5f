// UTF-8 helpers for the tokenizer and the data reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace zt::data {

// Length of the longest prefix of `bytes` that is valid UTF-8.
size_t valid_utf8_prefix(std::string_view bytes);
inline bool is_valid_utf8(std::string_view bytes) { return valid_utf8_prefix(bytes) == bytes.size(); }

// True when `tail` is a proper, so far valid, prefix of one multi-byte character (more bytes may finish it).
bool is_truncated_utf8(std::string_view tail);

// Replaces each maximal ill-formed subsequence with U+FFFD, exactly as Python's
// bytes.decode("utf-8", errors="replace") and Rust's String::from_utf8_lossy do.
std::string replace_invalid_utf8(std::string_view bytes);

// Unicode NFC (via utf8proc). Input must be valid UTF-8. Text that cannot change (no code point at or
// above U+0300) is returned without a copy into `scratch`.
std::string_view nfc(std::string_view text, std::string& scratch);

// Bytes of a UTF-8 sequence that starts with `lead` (1-4), or 0 for a byte that cannot start one.
inline int utf8_sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// The code point starting at `text[i]` and its length in bytes. Meant for valid UTF-8; a byte that starts no
// sequence, or one cut short by the end of the text, is returned as itself with length 1.
std::pair<uint32_t, size_t> code_point_at(std::string_view text, size_t i);
// The same, advancing `i` past it.
inline uint32_t next_code_point(std::string_view text, size_t& i) {
  const auto [code, length] = code_point_at(text, i);
  i += length;
  return code;
}
// Appends the UTF-8 encoding of `code`.
void append_code_point(uint32_t code, std::string& out);

}  // namespace zt::data
