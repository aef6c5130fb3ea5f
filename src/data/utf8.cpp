#include "data/utf8.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "core/check.h"

namespace zt::data {
namespace {

// Allowed range of the second byte of a sequence, by lead byte (Unicode Table 3-7); later bytes are 80..BF.
inline bool second_byte_ok(uint8_t lead, uint8_t byte) {
  switch (lead) {
    case 0xE0: return byte >= 0xA0 && byte <= 0xBF;
    case 0xED: return byte >= 0x80 && byte <= 0x9F;
    case 0xF0: return byte >= 0x90 && byte <= 0xBF;
    case 0xF4: return byte >= 0x80 && byte <= 0x8F;
    default: return byte >= 0x80 && byte <= 0xBF;
  }
}

// Number of bytes forming a valid sequence at `i`, or -k when the first k bytes are the maximal
// ill-formed subpart to replace (k >= 1).
inline int scan_sequence(const uint8_t* bytes, size_t size, size_t i) {
  uint8_t lead = bytes[i];
  int length = utf8_sequence_length(lead);
  if (length == 1) return 1;
  if (length == 0) return -1;
  size_t k = 1;
  for (; k < static_cast<size_t>(length); ++k) {
    if (i + k >= size) return -static_cast<int>(k);
    uint8_t byte = bytes[i + k];
    bool ok = k == 1 ? second_byte_ok(lead, byte) : (byte >= 0x80 && byte <= 0xBF);
    if (!ok) return -static_cast<int>(k);
  }
  return length;
}

}  // namespace

std::pair<uint32_t, size_t> code_point_at(std::string_view text, size_t i) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const int length = utf8_sequence_length(bytes[i]);
  if (length <= 1 || i + static_cast<size_t>(length) > text.size()) return {bytes[i], 1};
  uint32_t code = bytes[i] & (0xFF >> (length + 1));
  for (int k = 1; k < length; ++k) code = (code << 6) | (bytes[i + static_cast<size_t>(k)] & 0x3F);
  return {code, static_cast<size_t>(length)};
}

void append_code_point(uint32_t code, std::string& out) {
  utf8proc_uint8_t buffer[4];
  const utf8proc_ssize_t length = utf8proc_encode_char(static_cast<utf8proc_int32_t>(code), buffer);
  out.append(reinterpret_cast<const char*>(buffer), static_cast<size_t>(length));
}

size_t valid_utf8_prefix(std::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    if (bytes[i] < 0x80) {
      ++i;
      continue;
    }
    int step = scan_sequence(bytes, text.size(), i);
    if (step < 0) return i;
    i += static_cast<size_t>(step);
  }
  return i;
}

bool is_truncated_utf8(std::string_view tail) {
  if (tail.empty()) return false;
  int length = utf8_sequence_length(static_cast<uint8_t>(tail[0]));
  if (length <= 1 || tail.size() >= static_cast<size_t>(length)) return false;
  return scan_sequence(reinterpret_cast<const uint8_t*>(tail.data()), tail.size(), 0) == -static_cast<int>(tail.size());
}

std::string replace_invalid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  std::string out;
  out.reserve(text.size() + 8);
  size_t i = 0;
  while (i < text.size()) {
    if (bytes[i] < 0x80) {
      out.push_back(static_cast<char>(bytes[i++]));
      continue;
    }
    int step = scan_sequence(bytes, text.size(), i);
    if (step > 0) {
      out.append(text.data() + i, static_cast<size_t>(step));
      i += static_cast<size_t>(step);
    } else {
      out.append("\xEF\xBF\xBD");
      i += static_cast<size_t>(-step);
    }
  }
  return out;
}

std::string_view nfc(std::string_view text, std::string& scratch) {
  // Code points below U+0300 are never changed by NFC and never combine with what precedes them;
  // their UTF-8 lead bytes are all below 0xCC.
  bool may_change = false;
  for (char c : text) {
    if (static_cast<uint8_t>(c) >= 0xCC) {
      may_change = true;
      break;
    }
  }
  if (!may_change) return text;
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                         static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                                         static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  ZT_CHECK(length >= 0, "utf8proc_map failed: " << utf8proc_errmsg(length));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  scratch.assign(reinterpret_cast<const char*>(mapped), static_cast<size_t>(length));
  return scratch;
}

}  // namespace zt::data
