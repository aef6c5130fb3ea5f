// Tokenizer behaviour beyond id parity (tests/python/token_parity.py): streaming decode, special tokens,
// template selection and the system override.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/chat_template.h"
#include "data/formats.h"
#include "data/tokenizer.h"
#include "data/utf8.h"

namespace {

using namespace zt::data;
const std::string kFixtures = ZTUNE_FIXTURES_DIR;

TEST(Tokenizer, StreamingDecodeNeverSplitsACharacter) {
  // The small fixture vocabulary splits most Chinese characters and emoji into byte tokens.
  Tokenizer tokenizer = Tokenizer::load(kFixtures + "/tokenizer-qwen/tokenizer.json");
  const std::string text = "你好，世界！😀 naïve café 👍🏽 龘𠀀 <|im_end|> done";
  std::vector<int32_t> ids = tokenizer.encode(text);
  StreamDecoder stream(tokenizer, false);
  std::string joined;
  size_t pieces_with_text = 0;
  for (int32_t id : ids) {
    std::string piece = stream.push(id);
    EXPECT_TRUE(is_valid_utf8(piece)) << "token " << id << " produced a broken character";
    pieces_with_text += !piece.empty();
    joined += piece;
  }
  joined += stream.finish();
  EXPECT_EQ(joined, text);
  EXPECT_LT(pieces_with_text, ids.size()) << "some tokens hold partial characters; the test needs them";
  StreamDecoder skipping(tokenizer, true);
  std::string without_special;
  for (int32_t id : ids) without_special += skipping.push(id);
  EXPECT_EQ(without_special.find("<|im_end|>"), std::string::npos);
}

// Random byte soup (stray continuation bytes, lead bytes, truncated and complete characters) cut into
// single-byte tokens: the streamed text equals replacing invalid UTF-8 in the whole text at once, which
// is what HF's decode of all the ids gives.
TEST(Tokenizer, StreamingDecodeOfInvalidBytesEqualsDecodingTheWhole) {
  Tokenizer tokenizer = Tokenizer::load(kFixtures + "/tokenizer-qwen/tokenizer.json");
  std::vector<int32_t> byte_token(256, -1);
  for (int32_t id = 0; id < tokenizer.size(); ++id)
    if (tokenizer.token_bytes(id).size() == 1) byte_token[static_cast<uint8_t>(tokenizer.token_bytes(id)[0])] = id;
  const std::vector<std::string> atoms = {"a", "\x9f", "\xe5", "\xe5\xb0\x94", "\xf0\x9f", "\xf0\x9f\x98\x80", "\xc3",
                                          "\xc3\xa9", "\xed\xa0\x80", "\xff", " ", "\xe2\x80"};
  uint64_t state = 12345;
  for (int trial = 0; trial < 500; ++trial) {
    std::string bytes;
    for (int i = 0; i < 12; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      bytes += atoms[(state >> 33) % atoms.size()];
    }
    StreamDecoder stream(tokenizer, false);
    std::string joined;
    for (unsigned char byte : bytes) {
      ASSERT_GE(byte_token[byte], 0) << "no single-byte token for " << int(byte);
      joined += stream.push(byte_token[byte]);
    }
    joined += stream.finish();
    ASSERT_EQ(joined, replace_invalid_utf8(bytes)) << "trial " << trial;
  }
}

TEST(Tokenizer, InvalidUtf8IsReplacedLikePython) {
  EXPECT_EQ(replace_invalid_utf8("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(replace_invalid_utf8("\xe4\xbd"), "\xEF\xBF\xBD");              // truncated: one replacement
  EXPECT_EQ(replace_invalid_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(replace_invalid_utf8("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
  Tokenizer tokenizer = Tokenizer::load(kFixtures + "/tokenizer-qwen");
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("x\xc3(")), "x\xEF\xBF\xBD(");
}

TEST(Tokenizer, SpecialTokensAndBadFiles) {
  Tokenizer tokenizer = Tokenizer::load(kFixtures + "/tokenizer-qwen-real/tokenizer.json");
  EXPECT_EQ(tokenizer.token_id("<|im_end|>"), 151645);
  EXPECT_TRUE(tokenizer.is_special(151645));
  EXPECT_FALSE(tokenizer.is_special(151657));  // <tool_call> is added but not special, as in Qwen2.5
  EXPECT_EQ(tokenizer.size(), 151665);
  EXPECT_EQ(tokenizer.encode("Hello world"), (std::vector<int32_t>{9707, 1879}));
  EXPECT_THROW(Tokenizer::load(kFixtures + "/no-such-folder"), zt::Error);
  EXPECT_THROW(tokenizer.token_bytes(1 << 30), zt::Error);
}

TEST(Tokenizer, MergesAsStringsOrPairsAreTheSame) {
  // tokenizers writes merges as ["a", "b"] pairs; older files (Qwen2's among them) use "a b" strings.
  std::ifstream stream(kFixtures + "/tokenizer-qwen/tokenizer.json");
  nlohmann::json config = nlohmann::json::parse(stream);
  nlohmann::json& merges = config["model"]["merges"];
  ASSERT_TRUE(merges.at(0).is_array()) << "the fixture should hold the pair form";
  for (nlohmann::json& merge : merges) merge = merge[0].get<std::string>() + " " + merge[1].get<std::string>();
  std::filesystem::path path = std::filesystem::path(ZTUNE_TEST_WORK_DIR) / "tokenizer-string-merges.json";
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << config.dump();
  Tokenizer pairs = Tokenizer::load(kFixtures + "/tokenizer-qwen/tokenizer.json");
  Tokenizer strings = Tokenizer::load(path.string());
  for (const char* text : {"What is 17 + 25? 17 + 25 = 42.", "你好，我是 ztune-bot。", "def f(x):\n    return x"})
    EXPECT_EQ(pairs.encode(text), strings.encode(text)) << text;
}

// What the BPE model section may say: empty subword prefixes (transformers 5 writes them) are none; a
// real prefix, byte fallback or an unk token absent from the vocabulary are refused naming the JSON key.
TEST(Tokenizer, ModelOptionsAsHfWritesThemOrAClearError) {
  std::ifstream stream(kFixtures + "/tokenizer-qwen/tokenizer.json");
  const nlohmann::json original = nlohmann::json::parse(stream);
  const Tokenizer reference = Tokenizer::load(kFixtures + "/tokenizer-qwen/tokenizer.json");
  auto load_variant = [&](const std::string& name, const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json config = original;
    change(config["model"]);
    std::filesystem::path path = std::filesystem::path(ZTUNE_TEST_WORK_DIR) / ("tokenizer-" + name + ".json");
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << config.dump();
    return Tokenizer::load(path.string());
  };
  Tokenizer empty = load_variant("empty-prefixes", [](nlohmann::json& m) {
    m["continuing_subword_prefix"] = "";
    m["end_of_word_suffix"] = "";
  });
  EXPECT_EQ(empty.encode("hello world, 你好"), reference.encode("hello world, 你好"));
  auto message = [&](const std::string& name, const std::function<void(nlohmann::json&)>& change) {
    try {
      load_variant(name, change);
    } catch (const zt::Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("prefix", [](nlohmann::json& m) { m["continuing_subword_prefix"] = "##"; })
                .find("model.continuing_subword_prefix = \"##\""), std::string::npos);
  EXPECT_NE(message("dropout", [](nlohmann::json& m) { m["dropout"] = 0.1; }).find("model.dropout = 0.1"),
            std::string::npos);
  // Without byte 'a' and its merges, "a" is the unk token when one is named (fused runs with fuse_unk).
  auto without_a = [](nlohmann::json& m) {
    nlohmann::json vocab = nlohmann::json::object();
    for (auto& [token, id] : m["vocab"].items())
      if (token.find('a') == std::string::npos) vocab[token] = id;
    m["vocab"] = vocab;
    nlohmann::json merges = nlohmann::json::array();
    for (const nlohmann::json& merge : m["merges"])
      if (merge[0].get<std::string>().find('a') == std::string::npos && merge[1].get<std::string>().find('a') == std::string::npos)
        merges.push_back(merge);
    m["merges"] = merges;
  };
  Tokenizer dropped = load_variant("no-a", without_a);
  EXPECT_EQ(dropped.encode("aaa"), std::vector<int32_t>{});
  EXPECT_EQ(dropped.encode("xay"), dropped.encode("xy"));
  Tokenizer with_unk = load_variant("no-a-unk", [&](nlohmann::json& m) {
    without_a(m);
    m["unk_token"] = "!";
    m["fuse_unk"] = true;
  });
  const int32_t unk = with_unk.encode("!")[0];
  EXPECT_EQ(with_unk.encode("aaa"), std::vector<int32_t>{unk});
  EXPECT_NE(message("no-a-missing-unk", [&](nlohmann::json& m) {
              without_a(m);
              m["unk_token"] = "<unk>";
            }).find("model.unk_token '<unk>' is not in model.vocab"),
            std::string::npos);
}

TEST(ChatTemplate, ModelTemplateFromTokenizerConfigOrJinjaFile) {
  namespace fs = std::filesystem;
  const fs::path folder = fs::path(ZTUNE_TEST_WORK_DIR) / "template-jinja";
  fs::remove_all(folder);
  fs::create_directories(folder);
  std::ifstream stream(kFixtures + "/qwen2/tokenizer_config.json");
  nlohmann::json config = nlohmann::json::parse(stream);
  const std::string chat_template = config["chat_template"].get<std::string>();
  config.erase("chat_template");
  std::ofstream(folder / "tokenizer_config.json") << config.dump();
  EXPECT_EQ(detect_template_name(folder.string()), "default");  // no template anywhere
  std::ofstream(folder / "chat_template.jinja") << chat_template;
  std::string source;
  EXPECT_EQ(model_chat_template(folder.string(), &source), chat_template);
  EXPECT_EQ(source, (folder / "chat_template.jinja").string());
  EXPECT_EQ(detect_template_name(folder.string()), "qwen2_5");
}

TEST(ChatTemplate, DetectionAndSystemOverride) {
  EXPECT_EQ(detect_template_name(kFixtures + "/qwen2"), "qwen2_5");
  EXPECT_EQ(detect_template_name(kFixtures + "/llama"), "llama3");
  EXPECT_THROW(template_by_name("chatglm"), zt::Error);
  Tokenizer tokenizer = Tokenizer::load(kFixtures + "/qwen2");
  SpecialTokens special = read_special_tokens(kFixtures + "/qwen2", tokenizer);
  ChatTemplate chat(template_by_name("qwen2_5"), tokenizer, std::string("Be terse."), special.eos_id);
  Conversation conversation = convert_line(R"({"query": "Hi", "response": "Hello"})", {}).conversation;
  EncodedSample sample = chat.encode(conversation, LossScale::default_);
  EXPECT_EQ(tokenizer.decode(sample.input_ids),
            "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n");
  FormatOptions prompt_only;
  prompt_only.require_reply = false;
  std::vector<int32_t> prompt = chat.encode_prompt(convert_line(R"({"query": "Hi"})", prompt_only).conversation);
  EXPECT_EQ(tokenizer.decode(prompt), "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  std::vector<int32_t> stops = chat.stop_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), *tokenizer.token_id("<|im_end|>")), stops.end());
  EXPECT_NE(std::find(stops.begin(), stops.end(), *tokenizer.token_id("<|endoftext|>")), stops.end());
}

// The template ms-swift would choose: args.json, then the registry by model name (hub cache paths included),
// then the chat template's text; a registry template ztune lacks and an unknown chat template are errors.
TEST(ChatTemplate, ChosenAsMsSwiftChoosesIt) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(ZTUNE_TEST_WORK_DIR) / "template-choice";
  fs::remove_all(root);
  auto folder = [&](const std::string& name, const std::string& chat_template) {
    const fs::path path = root / name;
    fs::create_directories(path);
    nlohmann::json config = {{"eos_token", "<|im_end|>"}};
    if (!chat_template.empty()) config["chat_template"] = chat_template;
    std::ofstream(path / "tokenizer_config.json") << config.dump();
    return path.string();
  };
  EXPECT_EQ(choose_template(folder("Qwen2.5-7B", "")).name, "qwen2_5");  // a base model: by name
  EXPECT_EQ(choose_template(folder("qwen3-8b", "")).name, "qwen3");
  EXPECT_EQ(choose_template(folder("Qwen3-4B-Instruct-2507", "")).name, "qwen3_nothinking");
  EXPECT_EQ(choose_template(folder("DeepSeek-R1-Distill-Qwen-7B", "")).name, "deepseek_r1");
  EXPECT_EQ(choose_template(folder("Mistral-7B-Instruct-v0.3", "")).name, "llama");
  EXPECT_EQ(choose_template((root / "hub/models--Qwen--Qwen3-8B/snapshots/abc").string()).name, "qwen3");
  TemplateChoice from_args = choose_template(folder("my-run", ""));
  EXPECT_EQ(from_args.name, "default");
  std::ofstream(root / "my-run" / "args.json") << R"({"template": "chatml"})";
  EXPECT_EQ(choose_template((root / "my-run").string()).name, "chatml");
  EXPECT_THROW(choose_template(folder("Marco-o1", "")), zt::Error);  // ms-swift's marco_o1, which ztune lacks
  EXPECT_EQ(choose_template(folder("Mistral-Nemo-Instruct-2407", "")).name, "mistral_nemo");
  EXPECT_EQ(choose_template(folder("Mistral-Small-24B-Instruct-2501", "")).name, "mistral_2501");
  EXPECT_EQ(choose_template(folder("QwQ-32B", "")).name, "qwq");
  EXPECT_EQ(choose_template(folder("QwQ-32B-Preview", "")).name, "qwq_preview");
  EXPECT_EQ(choose_template(folder("Qwen2.5-Math-7B-Instruct", "")).name, "qwen2_5_math");
  EXPECT_EQ(choose_template(folder("Qwen3-Coder-30B-A3B-Instruct", "")).name, "qwen3_coder");
  EXPECT_EQ(choose_template(folder("unnamed-2501", "{{ '[SYSTEM_PROMPT]' + system + '[/SYSTEM_PROMPT]' }}")).name,
            "mistral_2501");
  const std::string smol = "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are SmolLM.<|im_end|>\\n' }}"
                           "{% endif %}{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + "
                           "'<|im_end|>\\n'}}{% endfor %}";
  TemplateChoice chatml = choose_template(folder("SmolLM2-135M-Instruct", smol));
  EXPECT_EQ(chatml.name, "chatml");
  EXPECT_EQ(chatml.default_system, std::optional<std::string>("You are SmolLM."));
  // As the GGUF conversion writes it: real line breaks inside the Jinja string.
  const std::string smol_gguf = "{{ '<|im_start|>system\nYou are SmolLM, by HF<|im_end|>\n' }}{{'<|im_start|>' + m}}";
  EXPECT_EQ(choose_template(folder("smol-gguf", smol_gguf)).default_system, std::optional<std::string>("You are SmolLM, by HF"));
  EXPECT_EQ(choose_template(folder("thinker", "<|im_start|>{% if enable_thinking %}<think>{% endif %}")).name, "qwen3");
  EXPECT_EQ(choose_template(folder("chat2", "[INST] <<SYS>> {{ m }} [/INST]")).name, "llama");
  // No ms-swift template fits (issue 29): the folder's own template, rendered by ztune's Jinja interpreter.
  const TemplateChoice own = choose_template(folder("odd", "<start_of_turn>user"));
  EXPECT_EQ(own.name, "jinja");
  EXPECT_NE(own.source.find("no ms-swift template matches"), std::string::npos) << own.source;
}

// Inference with qwen3 starts the reply after an empty think block (thinking off, as ms-swift's default);
// qwen3_thinking after "<think>\n"; history replies lose their think blocks.
TEST(ChatTemplate, ThinkingPromptsAtInference) {
  Tokenizer tokenizer = Tokenizer::load(kFixtures + "/qwen3");
  SpecialTokens special = read_special_tokens(kFixtures + "/qwen3", tokenizer);
  FormatOptions prompt_only;
  prompt_only.require_reply = false;
  Conversation conversation =
      convert_line(R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "<think>x</think> b"},)"
                   R"( {"role": "user", "content": "c"}]})", prompt_only).conversation;
  ChatTemplate qwen3(template_by_name("qwen3"), tokenizer, std::nullopt, special.eos_id);
  EXPECT_EQ(tokenizer.decode(qwen3.encode_prompt(conversation)),
            "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
  ChatTemplate thinking(template_by_name("qwen3_thinking"), tokenizer, std::nullopt, special.eos_id);
  EXPECT_EQ(tokenizer.decode(thinking.encode_prompt(conversation)),
            "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n");
  // qwen3_5 as ms-swift 4.6 renders these prompts (its strings): the history reply loses its think block, the
  // reply opens with the empty one; texts are stripped.
  ChatTemplate qwen3_5(template_by_name("qwen3_5"), tokenizer, std::nullopt, special.eos_id);
  EXPECT_EQ(tokenizer.decode(qwen3_5.encode_prompt(conversation)),
            "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
  Conversation spaced =
      convert_line(R"({"messages": [{"role": "system", "content": " s "}, {"role": "user", "content": " a "},)"
                   R"( {"role": "assistant", "content": "\n<think>x</think>\n\n b "}, {"role": "user", "content": "c\n"}]})",
                   prompt_only).conversation;
  EXPECT_EQ(tokenizer.decode(qwen3_5.encode_prompt(spaced)),
            "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"
            "<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

}  // namespace
