// Renders and encodes dataset rows with a Jinja chat template through ztune's own path (data/jinja_chat.h),
// one JSON line per request, for tests/python/check_jinja_templates.py and bench/bench_jinja.py.
// usage: ztune_render_chat TOKENIZER_DIR REQUESTS.jsonl OUT.jsonl [REPEAT]
//   request: {"template": path of a .jinja file ("" for the folder's own), "row": {ms-swift row},
//             "loss_scale": "default", "system": optional, "kwargs": {extra variables}}
//   answer:  {"text", "prompt_text", "input_ids", "labels", "prompt_ids", "end_of_turn"} or {"error": message}
// REPEAT > 1 encodes every request that many times and prints rows/s (the benchmark).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/chat_template.h"
#include "data/formats.h"
#include "data/jinja_chat.h"
#include "data/tokenizer.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ZT_REQUIRE(in.good(), path << ": cannot be read");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR REQUESTS.jsonl OUT.jsonl [REPEAT]\n", argv[0]);
    return 2;
  }
  try {
    const std::string model_dir = argv[1];
    const int repeat = argc > 4 ? std::atoi(argv[4]) : 1;
    const zt::data::Tokenizer tokenizer = zt::data::Tokenizer::load(model_dir);
    std::ifstream requests(argv[2]);
    std::ofstream out(argv[3]);
    std::string line;
    size_t encoded = 0;
    double seconds = 0;
    while (std::getline(requests, line)) {
      const nlohmann::json request = nlohmann::json::parse(line);
      nlohmann::json answer;
      try {
        zt::data::JinjaChatConfig config;
        const std::string template_path = request.value("template", "");
        if (template_path.empty()) {
          config.templates = zt::data::read_chat_templates(model_dir, &config.origins);
        } else {
          config.templates["default"] = read_file(template_path);
          config.origins["default"] = template_path;
        }
        config.special_tokens = zt::data::read_special_token_texts(model_dir);
        config.extra_variables = request.value("kwargs", nlohmann::json::object()).dump();
        const zt::data::JinjaChat chat(config);
        zt::data::FormatOptions options;
        options.require_reply = false;
        const zt::data::ConvertResult converted = zt::data::convert_row(request["row"], options);
        ZT_REQUIRE(converted.ok(), "the row does not convert: " << converted.detail);
        std::optional<std::string> system;
        if (request.contains("system") && request["system"].is_string()) system = request["system"].get<std::string>();
        const zt::data::LossScale loss_scale = zt::data::parse_loss_scale(request.value("loss_scale", "default"));
        const auto start = std::chrono::steady_clock::now();
        zt::data::EncodedSample sample;
        for (int i = 0; i < repeat; ++i) sample = chat.encode(converted.conversation, loss_scale, tokenizer, system);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        encoded += static_cast<size_t>(repeat);
        answer["text"] = chat.render(converted.conversation, false, system);
        answer["input_ids"] = sample.input_ids;
        answer["labels"] = sample.labels;
        answer["end_of_turn"] = chat.end_of_turn();
        // The generation prompt for the conversation without its last reply.
        zt::data::Conversation prompt = converted.conversation;
        if (!prompt.messages.empty() && prompt.messages.back().role == zt::data::Role::assistant) prompt.messages.pop_back();
        answer["prompt_text"] = chat.render(prompt, true, system);
        answer["prompt_ids"] = chat.encode_prompt(prompt, tokenizer, system);
      } catch (const zt::Error& error) {
        answer = {{"error", error.what()}};
      }
      out << answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    if (repeat > 1) std::printf("{\"rows\": %zu, \"seconds\": %.6f}\n", encoded, seconds);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  return 0;
}
