// SentencePiece's model file (tokenizer.model, a ModelProto protobuf) read without protobuf: the pieces with their
// scores and types, and the normaliser settings that decide whether llama.cpp tokenizes as sentencepiece does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zt::exporting::sentencepiece {

// ModelProto.SentencePiece.Type (sentencepiece_model.proto).
enum PieceType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct Piece {
  std::string text;        // field 1, as stored (bytes)
  float score = 0.0f;      // field 2
  int32_t type = kNormal;  // field 3, a PieceType
};

struct Model {
  std::vector<Piece> pieces;  // ModelProto field 1, ids in file order
  // NormalizerSpec (ModelProto field 3), with the proto's defaults when absent.
  std::string normalizer_name;
  bool has_charsmap = false;             // a precompiled normalisation table (NFKC and the like)
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
};

// The bytes of a tokenizer.model. Anything that is not a well-formed ModelProto that sentencepiece would load (a
// truncated or overlong field, an unknown piece type, an empty or repeated piece, no or two unknown pieces) is a
// zt::Error naming `path`.
Model parse_model(std::string_view bytes, const std::string& path);

// parse_model of the file at `path` (at most 1 GiB).
Model read_model(const std::string& path);

}  // namespace zt::exporting::sentencepiece
