// libFuzzer target over the tokenizer.model (SentencePiece ModelProto) reader of `ztune export --to_gguf`: any
// byte string is either a model whose pieces are non-empty and typed, distinct within each of sentencepiece's two
// tables (normal/user-defined/unused, and the reserved kinds), with one unknown piece, or a zt::Error. AddressSanitizer catches any read outside the input.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "core/check.h"
#include "export/sentencepiece_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace sp = zt::exporting::sentencepiece;
  try {
    const sp::Model model = sp::parse_model(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz-input");
    std::set<std::string> normal, reserved;
    int unknown = 0;
    for (const sp::Piece& piece : model.pieces) {
      const bool is_normal = piece.type == sp::kNormal || piece.type == sp::kUserDefined || piece.type == sp::kUnused;
      if (piece.text.empty() || !(is_normal ? normal : reserved).insert(piece.text).second) std::abort();
      if (piece.type < sp::kNormal || piece.type > sp::kByte) std::abort();
      unknown += piece.type == sp::kUnknown;
    }
    if (unknown != 1) std::abort();
  } catch (const zt::Error&) {
  }
  return 0;
}
