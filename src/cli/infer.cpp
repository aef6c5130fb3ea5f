// `ztune infer`: chat in the terminal with streaming output, or batch inference over datasets, with a
// model folder or a LoRA checkpoint (whose args.json names the base model, template, system and dtype).
#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/infer_export_args.h"
#include "cli/vllm_engine.h"
#include "core/check.h"
#include "core/json_file.h"
#include "core/log.h"
#include "data/chat_template.h"
#include "data/formats.h"
#include "data/shard_reader.h"
#include "data/tokenizer.h"
#include "checkpoint/trained_with.h"
#include "dist/run_context.h"
#include "export/merge.h"
#include "model/lora/peft_adapter.h"
#include "model/decoder.h"
#include "model/generation.h"
#include "train/model_files.h"
#include "hub/cache.h"
#include "hub/download.h"

namespace zt::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Everything a reply needs: the model (with its adapter, or merged), tokenizer, template, sampling.
class Session {
 public:
  Session(const InferArgs& args, c10::Device device) : args_(args) {
    ZT_REQUIRE(args.adapters.size() <= 1, "--adapters: infer takes one adapter, " << args.adapters.size() << " given");
    std::optional<std::string> adapter;
    if (!args.adapters.empty()) adapter = without_trailing_slash(args.adapters[0]);
    if (adapter && !fs::exists(*adapter)) {  // a hub id: downloaded (or found in the cache), as --model is
      hub::HubAccess access;
      access.use_hf = args.use_hf;
      adapter = hub::resolve_adapter_dir(*adapter, access);
    }
    checkpoint::TrainedWith trained;
    if (adapter && args.load_args) trained = checkpoint::read_trained_with(*adapter);
    model_dir_ = resolve_base(adapter, trained);
    if (adapter && args.merge_lora) {
      const std::string merged = *adapter + "-merged";
      if (fs::exists(fs::path(merged) / "config.json")) {
        ZT_LOG_INFO("using the merged model in " << merged);
      } else {
        exporting::MergeOptions merge;
        merge.base_dir = model_dir_;
        merge.adapter_dir = *adapter;
        merge.device = device;
        merge.out_dir = merged;
        exporting::merge_lora(merge);
      }
      model_dir_ = merged;
      adapter.reset();
    }
    source_dir_ = adapter.value_or(model_dir_);
    std::optional<std::string> asked_template = args.template_name.has_value() ? args.template_name : trained.template_name;
    if (!args.template_name && args.template_backend == std::string("jinja")) asked_template = data::kJinjaTemplate;
    const std::string kwargs = args.chat_template_kwargs.value_or(
        trained.chat_template_kwargs.empty() ? std::string("{}") : trained.chat_template_kwargs);
    train::ModelFiles files = train::open_model_files(
        model_dir_, asked_template, args.system.has_value() ? args.system : trained.system, kwargs);
    const model::ModelConfig config = files.config;
    const std::string template_name = files.template_name;
    tokenizer_ = std::move(files.tokenizer);
    chat_ = std::move(files.chat);
    max_length_ = args.max_length.value_or(trained.max_length.value_or(static_cast<int>(config.max_position_embeddings)));

    const std::string dtype_name = args.torch_dtype.value_or(trained.torch_dtype.value_or(config.dtype));
    if (args.infer_backend == "vllm" && start_vllm(adapter, dtype_name)) {
      configure_sampling();
      ZT_LOG_INFO("model " << model_dir_ << (adapter ? " with the adapter " + *adapter : std::string())
                           << " handed to vLLM " << vllm_->version() << ", template " << template_name << ", "
                           << (sampling_.do_sample ? "sampling" : "greedy") << ", at most "
                           << sampling_.max_new_tokens << " new tokens");
      return;
    }
    model::ModelOptions options;
    options.device = device;
    options.dtype = exporting::parse_dtype(dtype_name).value_or(at::kFloat);
    if (adapter) {
      options.lora = model::read_adapter_config(*adapter);
      options.lora->dropout = 0;
    }
    model_ = std::make_unique<model::DecoderModel>(model::DecoderModel::load(model_dir_, options));
    if (adapter) model_->load_adapter_tensors(model::read_adapter_tensors(*adapter));
    configure_sampling();
    ZT_LOG_INFO("model " << model_dir_ << (adapter ? " with the adapter " + *adapter : std::string()) << ", template "
                         << template_name << ", " << (sampling_.do_sample ? "sampling" : "greedy") << ", at most "
                         << sampling_.max_new_tokens << " new tokens");
  }

  // Replies to each conversation (ending with a user turn). `on_text(i, text)` streams the decoded text.
  std::vector<std::string> reply(const std::vector<data::Conversation>& conversations,
                                 const std::function<void(size_t, const std::string&)>& on_text = {}) {
    std::vector<std::vector<int64_t>> prompts;
    for (const data::Conversation& conversation : conversations) {
      std::vector<int32_t> ids = chat_->encode_prompt(conversation);
      ZT_REQUIRE(static_cast<int>(ids.size()) < max_length_,
                 "the conversation is " << ids.size() << " tokens, at least --max_length " << max_length_
                                        << "; start a new one ('clear') or raise --max_length");
      prompts.emplace_back(ids.begin(), ids.end());
    }
    // Replies read as ms-swift prints them: special tokens as their text, except the eos or end-of-turn token that
    // stopped the reply.
    std::vector<data::StreamDecoder> decoders(conversations.size(), data::StreamDecoder(*tokenizer_, false));
    std::vector<std::string> texts(conversations.size());
    model::SamplingConfig config = sampling_;
    config.seed = sampling_.seed + replies_++;
    const std::vector<int32_t> unprinted = chat_->unprinted_stop_ids();
    auto on_token = [&](size_t i, int64_t token) {
      if (std::find(config.stop_ids.begin(), config.stop_ids.end(), token) != config.stop_ids.end() &&
          std::find(unprinted.begin(), unprinted.end(), token) != unprinted.end())
        return;
      const std::string piece = decoders[i].push(static_cast<int32_t>(token));
      texts[i] += piece;
      if (on_text && !piece.empty()) on_text(i, piece);
    };
    if (vllm_) {  // vLLM answers a batch at once; its tokens are decoded here as ztune's own are
      const std::vector<std::vector<int64_t>> outputs = vllm_->generate(prompts, config);
      for (size_t i = 0; i < outputs.size(); ++i)
        for (int64_t token : outputs[i]) on_token(i, token);
    } else {
      at::NoGradGuard no_grad;
      model::generate(*model_, prompts, config, on_token);
    }
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::string rest = decoders[i].finish();
      texts[i] += rest;
      if (on_text && !rest.empty()) on_text(i, rest);
    }
    return texts;
  }

  const std::string& source_dir() const { return source_dir_; }
  // vLLM schedules its own batches: batch inference hands it many rows at once.
  bool batches_itself() const { return vllm_ != nullptr; }

 private:
  // The model (and an unmerged adapter, through vLLM's LoRA support) handed to vLLM, as ms-swift's VllmEngine
  // does; false, after one line saying why, when vLLM cannot be used here.
  bool start_vllm(const std::optional<std::string>& adapter, const std::string& dtype_name) {
    VllmSetup setup;
    setup.model_dir = fs::absolute(model_dir_).string();
    if (adapter) setup.lora_dir = fs::absolute(*adapter).string();
    setup.dtype = dtype_name.empty() ? "auto" : dtype_name;
    setup.max_model_len = args_.vllm_max_model_len.value_or(0);
    setup.gpu_memory_utilization = args_.vllm_gpu_memory_utilization;
    setup.tensor_parallel_size = args_.vllm_tensor_parallel_size;
    setup.max_num_seqs = args_.vllm_max_num_seqs;
    setup.enforce_eager = args_.vllm_enforce_eager;
    setup.max_lora_rank = args_.vllm_max_lora_rank;
    setup.enable_prefix_caching = args_.vllm_enable_prefix_caching;
    setup.disable_custom_all_reduce = args_.vllm_disable_custom_all_reduce;
    setup.engine_kwargs_json = args_.vllm_engine_kwargs.value_or("{}");
    setup.seed = static_cast<uint64_t>(args_.seed);
    std::string why_not;
    vllm_ = VllmEngine::start(setup, &why_not);
    if (!vllm_) ZT_LOG_WARN("--infer_backend vllm: " << why_not << "; serving with ztune's own engine instead");
    return vllm_ != nullptr;
  }

  std::string resolve_base(const std::optional<std::string>& adapter, const checkpoint::TrainedWith& trained) const {
    if (args_.model.has_value()) {
      hub::HubAccess access;
      access.use_hf = args_.use_hf;
      access.revision = args_.model_revision.value_or("");
      return hub::resolve_model_dir(*args_.model, access);
    }
    ZT_REQUIRE(adapter.has_value(), "pass --model DIR (or a hub id) or --adapters CHECKPOINT");
    if (trained.model.has_value()) return hub::resolve_model_dir(*trained.model, args_.use_hf || trained.use_hf);
    const std::string base = model::read_adapter_config(*adapter).base_model;
    ZT_REQUIRE(!base.empty(), *adapter << ": neither args.json nor adapter_config.json names the base model; pass --model");
    return hub::resolve_model_dir(base, args_.use_hf);
  }

  // generation_config.json's defaults, then the flags; --temperature 0 means greedy.
  void configure_sampling() {
    const json generation = read_json_file_or_empty((fs::path(model_dir_) / "generation_config.json").string());
    sampling_.do_sample = generation.value("do_sample", false);
    sampling_.temperature = args_.temperature.value_or(generation.value("temperature", 1.0));
    sampling_.top_p = args_.top_p.value_or(generation.value("top_p", 1.0));
    sampling_.top_k = args_.top_k.value_or(generation.value("top_k", 0));
    sampling_.repetition_penalty = args_.repetition_penalty.value_or(generation.value("repetition_penalty", 1.0));
    sampling_.max_new_tokens = args_.max_new_tokens.value_or(generation.value("max_new_tokens", 512));
    if (args_.temperature.has_value()) sampling_.do_sample = *args_.temperature > 0;
    if (sampling_.temperature <= 0) sampling_.do_sample = false;
    ZT_REQUIRE(sampling_.max_new_tokens > 0, "--max_new_tokens must be positive");
    sampling_.seed = static_cast<uint64_t>(args_.seed);
    for (int32_t id : chat_->stop_ids()) sampling_.stop_ids.push_back(id);
    const json eos = generation.value("eos_token_id", json());
    if (eos.is_number_integer()) sampling_.stop_ids.push_back(eos.get<int64_t>());
    if (eos.is_array())
      for (const json& id : eos) sampling_.stop_ids.push_back(id.get<int64_t>());
  }

  const InferArgs& args_;
  std::string model_dir_, source_dir_;
  std::unique_ptr<data::Tokenizer> tokenizer_;
  std::unique_ptr<data::ChatTemplate> chat_;
  std::unique_ptr<model::DecoderModel> model_;
  std::unique_ptr<VllmEngine> vllm_;
  model::SamplingConfig sampling_;
  int max_length_ = 2048;
  uint64_t replies_ = 0;
};

json messages_json(const data::Conversation& conversation) {
  json messages = json::array();
  for (const data::Message& message : conversation.messages)
    messages.push_back({{"role", data::role_name(message.role)}, {"content", message.content}});
  return messages;
}

// --val_dataset: each row's conversation without its last assistant reply (kept as `labels`) is a
// prompt; replies are generated --max_batch_size at a time and written as jsonl.
int batch_inference(const InferArgs& args, Session& session) {
  std::string result_path = args.result_path.value_or("");
  if (result_path.empty()) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    result_path = (fs::path(session.source_dir()) / "infer_result" / (std::string(stamp) + ".jsonl")).string();
  }
  if (fs::path(result_path).has_parent_path()) fs::create_directories(fs::path(result_path).parent_path());
  std::ofstream out(result_path);
  ZT_REQUIRE(out.good(), result_path << ": cannot write the results");

  std::vector<data::DatasetSource> sources;
  for (const std::string& spec : args.val_dataset) sources.push_back(data::parse_dataset_spec(spec));
  data::ReaderOptions options;
  options.shuffle = false;
  data::ShardReader reader(sources, options, [](const std::vector<uint64_t>& v) { return v; });
  data::FormatOptions format;
  format.require_reply = false;
  if (!args.model_name.empty()) format.self_cognition.name = std::make_pair(args.model_name[0], args.model_name.back());
  if (!args.model_author.empty())
    format.self_cognition.author = std::make_pair(args.model_author[0], args.model_author.back());
  struct Item {
    data::Conversation prompt;
    std::optional<std::string> reference;
  };
  std::vector<Item> items;
  uint64_t skipped = 0;
  while (std::optional<data::RawRow> row = reader.next()) {
    data::ConvertResult converted = row->value ? data::convert_row(*row->value, format) : data::convert_line(row->text, format);
    if (!converted.ok()) {
      ZT_LOG_WARN(reader.file_paths()[row->ref.file] << ":" << row->ref.line << ": skipped ("
                                                     << data::row_issue_name(*converted.issue) << ")");
      ++skipped;
      continue;
    }
    Item item{std::move(converted.conversation), std::nullopt};
    if (!item.prompt.messages.empty() && item.prompt.messages.back().role == data::Role::assistant) {
      item.reference = item.prompt.messages.back().content;
      item.prompt.messages.pop_back();
    }
    if (item.prompt.messages.empty() || item.prompt.messages.back().role != data::Role::user) {
      ZT_LOG_WARN(reader.file_paths()[row->ref.file] << ":" << row->ref.line << ": skipped (no user turn to answer)");
      ++skipped;
      continue;
    }
    items.push_back(std::move(item));
  }
  const size_t batch = session.batches_itself() ? std::max<size_t>(1024, static_cast<size_t>(std::max(1, args.max_batch_size)))
                                                : static_cast<size_t>(std::max(1, args.max_batch_size));
  const bool stream = args.stream.value_or(false) && batch == 1;
  const auto start = std::chrono::steady_clock::now();
  for (size_t begin = 0; begin < items.size(); begin += batch) {
    std::vector<data::Conversation> prompts;
    for (size_t i = begin; i < std::min(items.size(), begin + batch); ++i) prompts.push_back(items[i].prompt);
    if (stream) std::printf("[%zu/%zu] ", begin + 1, items.size());
    const std::vector<std::string> replies = session.reply(prompts, [&](size_t, const std::string& text) {
      if (stream) std::fputs(text.c_str(), stdout), std::fflush(stdout);
    });
    for (size_t i = 0; i < replies.size(); ++i) {
      const Item& item = items[begin + i];
      out << json{{"messages", messages_json(item.prompt)},
                  {"response", replies[i]},
                  {"labels", item.reference ? json(*item.reference) : json(nullptr)}}
                 .dump()
          << "\n";
    }
    out.flush();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const size_t done = std::min(items.size(), begin + batch);
    if (stream) std::printf("\n");
    std::fprintf(stderr, "\r%zu/%zu rows, %.3f rows/s", done, items.size(), double(done) / std::max(1e-9, seconds));
  }
  std::fprintf(stderr, "\n");
  std::printf("%zu replies written to %s%s\n", items.size(), result_path.c_str(),
              skipped ? (" (" + std::to_string(skipped) + " rows skipped)").c_str() : "");
  return 0;
}

// The terminal chat: a line is a user turn; 'clear' forgets the history, 'exit' (or end of input) ends.
int chat(const InferArgs& args, Session& session) {
  const bool interactive = isatty(STDIN_FILENO) != 0;
  const bool stream = args.stream.value_or(true);
  std::printf("chat with %s ('clear' starts over, 'exit' ends)\n", session.source_dir().c_str());
  data::Conversation history;
  std::string line;
  while (true) {
    std::printf("<<< ");
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (!interactive) std::printf("%s\n", line.c_str());  // piped input: show what was asked
    if (line == "exit" || line == "quit") break;
    if (line == "clear") {
      history.messages.clear();
      std::printf("history cleared\n");
      continue;
    }
    if (line.empty()) continue;
    history.messages.push_back({data::Role::user, line, std::nullopt});
    std::printf(">>> ");
    std::fflush(stdout);
    std::string reply;
    try {
      reply = session.reply({history}, [&](size_t, const std::string& text) {
        if (stream) std::fputs(text.c_str(), stdout), std::fflush(stdout);
      })[0];
    } catch (const Error& error) {
      history.messages.pop_back();
      std::printf("\n%s\n", error.what());
      continue;
    }
    if (!stream) std::fputs(reply.c_str(), stdout);
    std::printf("\n");
    std::fflush(stdout);
    history.messages.push_back({data::Role::assistant, reply, std::nullopt});
  }
  if (interactive) std::printf("\n");
  return 0;
}

}  // namespace

int run_infer(const std::vector<std::string>& argv) {
  InferArgs args;
  if (!parse_command(infer_table(), argv, args)) return 0;
  // sglang and lmdeploy: ztune serves the same prompts with its own engine and says so in one line.
  if (args.infer_backend == "sglang" || args.infer_backend == "lmdeploy")
    ZT_LOG_WARN("--infer_backend " << args.infer_backend << ": ztune does not hand models to " << args.infer_backend
                                   << " yet; serving with ztune's own engine (same template, same sampling flags)");
  dist::RunContext context = dist::RunContext::start();
  ZT_LOG_INFO("running on " << context.summary());
  Session session(args, context.device());
  return args.val_dataset.empty() ? chat(args, session) : batch_inference(args, session);
}

}  // namespace zt::cli
