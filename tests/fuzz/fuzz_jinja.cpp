// libFuzzer target over the Jinja interpreter: any template text (and, after a NUL byte, any JSON as the
// messages) is rendered or refused with a zt::Error; never a crash, a hang or unbounded memory: rendering runs
// under small limits (steps, output bytes, macro depth) and the sandbox's range and value-size caps.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/check.h"
#include "data/jinja/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string_view source = input.substr(0, split);
  using zt::data::jinja::Value;
  nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <b>there</b> \u00e9"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1.5}}}]},
    {"role": "tool", "content": "{\"ok\": true}"}, {"role": "assistant", "content": "<think>\nhm\n</think>\n\nDone."}])");
  if (split != std::string_view::npos) {
    nlohmann::ordered_json given = nlohmann::ordered_json::parse(input.substr(split + 1), nullptr, false, true);
    if (!given.is_discarded()) messages = std::move(given);
  }
  zt::data::jinja::Dict variables;
  variables.items.emplace_back("messages", Value::from_json(messages));
  variables.items.emplace_back("tools", Value::none());
  variables.items.emplace_back("add_generation_prompt", Value::boolean(true));
  variables.items.emplace_back("bos_token", Value("<s>"));
  variables.items.emplace_back("eos_token", Value("</s>"));
  zt::data::jinja::RenderLimits limits;
  limits.max_steps = 200000;
  limits.max_output_bytes = 1 << 20;
  limits.max_call_depth = 32;
  try {
    const zt::data::jinja::Template chat_template(source, "fuzz.jinja");
    (void)chat_template.render(variables, limits).text.size();
  } catch (const zt::Error&) {
  }
  return 0;
}
