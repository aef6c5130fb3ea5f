#include "export/sentencepiece_model.h"

#include <cstring>
#include <fstream>
#include <set>

#include "core/check.h"

namespace zt::exporting::sentencepiece {
namespace {

constexpr uint64_t kMaxFileBytes = uint64_t{1} << 30;

// Protobuf wire types (the deprecated groups, 3 and 4, are refused).
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One message's bytes, read field by field; every read checks what is left, and a failure names the file, the
// message and the byte offset in the file.
class Fields {
 public:
  Fields(std::string_view bytes, uint64_t offset, const char* message, const std::string& path)
      : bytes_(bytes), offset_(offset), message_(message), path_(path) {}

  bool done() const { return at_ == bytes_.size(); }

  // The next field's number and wire type.
  void next(uint32_t& field, uint32_t& wire) {
    const uint64_t key = varint();
    field = static_cast<uint32_t>(key >> 3);
    wire = static_cast<uint32_t>(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1FFFFFFF) fail("field number " + std::to_string(key >> 3) + " is not valid");
  }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ >= bytes_.size()) fail("a number runs past the end");
      const uint8_t byte = static_cast<uint8_t>(bytes_[at_++]);
      if (shift == 63 && byte > 1) fail("a number does not fit in 64 bits");
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail("a number is longer than 10 bytes");
  }

  // A length-delimited field's bytes, and where they start in the file.
  std::string_view bytes(uint64_t& offset) {
    const uint64_t length = varint();
    if (length > bytes_.size() - at_)
      fail("a field of " + std::to_string(length) + " bytes runs past the end (" + std::to_string(bytes_.size() - at_) +
           " left)");
    offset = offset_ + at_;
    const std::string_view out = bytes_.substr(at_, length);
    at_ += length;
    return out;
  }
  std::string_view bytes() {
    uint64_t ignored;
    return bytes(ignored);
  }

  float fixed32_float() {
    if (bytes_.size() - at_ < 4) fail("a 4-byte number runs past the end");
    float value;  // little-endian on the wire; the GGUF writer already requires a little-endian host
    std::memcpy(&value, bytes_.data() + at_, 4);
    at_ += 4;
    return value;
  }

  void skip(uint32_t wire) {
    if (wire == kVarint) {
      varint();
    } else if (wire == kFixed64 || wire == kFixed32) {
      const size_t size = wire == kFixed64 ? 8 : 4;
      if (bytes_.size() - at_ < size) fail("a fixed-size field runs past the end");
      at_ += size;
    } else if (wire == kLengthDelimited) {
      bytes();
    } else {
      fail("wire type " + std::to_string(wire) + " is not one this format uses");
    }
  }

  void expect(uint32_t field, uint32_t wire, uint32_t wanted) {
    if (wire != wanted)
      fail("field " + std::to_string(field) + " has wire type " + std::to_string(wire) + ", expected " +
           std::to_string(wanted));
  }

  [[noreturn]] void fail(const std::string& what) const {
    ZT_THROW(path_ << ": not a SentencePiece model (tokenizer.model): in " << message_ << " at byte " << offset_ + at_
                   << ", " << what << ". Replace it with the model's original tokenizer.model, or delete it to "
                                      "export from tokenizer.json");
  }

 private:
  std::string_view bytes_;
  uint64_t offset_;
  size_t at_ = 0;
  const char* message_;
  const std::string& path_;
};

Piece parse_piece(std::string_view bytes, uint64_t offset, const std::string& path) {
  Fields in(bytes, offset, "a piece", path);
  Piece piece;
  while (!in.done()) {
    uint32_t field, wire;
    in.next(field, wire);
    if (field == 1) {
      in.expect(field, wire, kLengthDelimited);
      piece.text = std::string(in.bytes());
    } else if (field == 2) {
      in.expect(field, wire, kFixed32);
      piece.score = in.fixed32_float();
    } else if (field == 3) {
      in.expect(field, wire, kVarint);
      const int32_t type = static_cast<int32_t>(in.varint());  // an enum is an int32 on the wire
      if (type < kNormal || type > kByte) in.fail("piece type " + std::to_string(type) + " is not one of 1..6");
      piece.type = type;
    } else {
      in.skip(wire);
    }
  }
  return piece;
}

// NormalizerSpec; a second one in the file merges into the first, as protobuf merges repeated messages.
void parse_normalizer(std::string_view bytes, uint64_t offset, const std::string& path, Model& model) {
  Fields in(bytes, offset, "normalizer_spec", path);
  while (!in.done()) {
    uint32_t field, wire;
    in.next(field, wire);
    if (field == 1) {
      in.expect(field, wire, kLengthDelimited);
      model.normalizer_name = std::string(in.bytes());
    } else if (field == 2) {
      in.expect(field, wire, kLengthDelimited);
      model.has_charsmap = !in.bytes().empty();
    } else if (field == 3 || field == 4) {
      in.expect(field, wire, kVarint);
      (field == 3 ? model.add_dummy_prefix : model.remove_extra_whitespaces) = in.varint() != 0;
    } else {
      in.skip(wire);
    }
  }
}

}  // namespace

Model parse_model(std::string_view bytes, const std::string& path) {
  Fields in(bytes, 0, "the model", path);
  Model model;
  while (!in.done()) {
    uint32_t field, wire;
    in.next(field, wire);
    uint64_t offset = 0;
    if (field == 1) {
      in.expect(field, wire, kLengthDelimited);
      const std::string_view piece = in.bytes(offset);
      model.pieces.push_back(parse_piece(piece, offset, path));
    } else if (field == 3) {
      in.expect(field, wire, kLengthDelimited);
      const std::string_view spec = in.bytes(offset);
      parse_normalizer(spec, offset, path, model);
    } else {
      in.skip(wire);  // trainer_spec, self_test_data, denormalizer_spec
    }
  }

  // What sentencepiece's ModelInterface refuses on load (so convert_hf_to_gguf.py could not read the file either).
  ZT_REQUIRE(!model.pieces.empty(), path << ": not a SentencePiece model (tokenizer.model): it has no pieces");
  std::set<std::string_view> normal, reserved;  // sentencepiece keeps the two kinds in separate tables
  int64_t unknown = -1;
  for (size_t id = 0; id < model.pieces.size(); ++id) {
    const Piece& piece = model.pieces[id];
    ZT_REQUIRE(!piece.text.empty(), path << ": SentencePiece model: piece " << id << " is empty");
    const bool is_normal = piece.type == kNormal || piece.type == kUserDefined || piece.type == kUnused;
    ZT_REQUIRE((is_normal ? normal : reserved).insert(std::string_view(piece.text)).second,
               path << ": SentencePiece model: piece " << id << " '" << piece.text << "' is defined twice");
    if (piece.type == kUnknown) {
      ZT_REQUIRE(unknown < 0, path << ": SentencePiece model: pieces " << unknown << " and " << id << " are both the "
                                   "unknown piece");
      unknown = static_cast<int64_t>(id);
    }
  }
  ZT_REQUIRE(unknown >= 0, path << ": SentencePiece model: no piece is the unknown piece");
  return model;
}

Model read_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  ZT_REQUIRE(in, path << ": cannot be opened; check that it is readable");
  const std::streamoff size = in.tellg();
  ZT_REQUIRE(size >= 0 && static_cast<uint64_t>(size) <= kMaxFileBytes,
             path << ": " << size << " bytes; a SentencePiece model is at most a few MB (1 GiB accepted)");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  ZT_REQUIRE(in.read(bytes.data(), size), path << ": could not be read to the end");
  return parse_model(bytes, path);
}

}  // namespace zt::exporting::sentencepiece
