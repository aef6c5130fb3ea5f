// A parsed Jinja chat template and its interpreter: render(variables) -> text, with the spans that
// {% generation %} blocks wrote (what transformers' return_assistant_tokens_mask marks).
//
// Rendering is bounded: a template that runs more than `max_steps` statements and expressions, writes more
// than `max_output_bytes`, or nests macro calls deeper than `max_call_depth` fails with an error instead of
// running away. Errors (syntax, runtime, the template's own raise_exception) are zt::Errors that name the
// template, the line, and quote it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/jinja/value.h"

namespace zt::data::jinja {

struct Program;

struct RenderLimits {
  int64_t max_steps = 20'000'000;
  size_t max_output_bytes = size_t{64} << 20;
  int max_call_depth = 100;
};

struct Rendered {
  std::string text;
  std::vector<std::pair<size_t, size_t>> generation_spans;  // [begin, end) byte offsets into text
};

class Template {
 public:
  // `origin` names the template in messages (a file, "tokenizer_config.json of <folder>").
  Template(std::string_view source, std::string origin);
  Rendered render(const Dict& variables, const RenderLimits& limits = {}) const;
  bool has_generation_blocks() const;
  const std::string& origin() const { return origin_; }

 private:
  std::string describe_line(int line) const;
  std::shared_ptr<const Program> program_;
  std::vector<std::string> lines_;
  std::string origin_;
};

}  // namespace zt::data::jinja
