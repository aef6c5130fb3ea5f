// `ztune export`: a checkpoint's shards consolidated into a PEFT adapter (--ckpt_dir/--adapters with
// --to_peft), the adapter merged into its base model (--merge_lora true, with --to_gguf TYPE also a llama.cpp
// GGUF file of it), a Hugging Face model folder written as GGUF (--model DIR --to_gguf TYPE --output_dir OUT),
// or a llama.cpp GGUF file written as a Hugging Face model folder (--from_gguf FILE --output_dir DIR).
#include <filesystem>

#include "cli/commands.h"
#include "cli/infer_export_args.h"
#include "core/check.h"
#include "core/log.h"
#include "checkpoint/trained_with.h"
#include "dist/run_context.h"
#include "export/gguf.h"
#include "export/gguf_write.h"
#include "export/to_peft.h"
#include "hub/modelscope.h"
#include "export/merge.h"
#include "model/lora/peft_adapter.h"
#include "hub/cache.h"
#include "hub/download.h"

namespace zt::cli {
namespace {

namespace fs = std::filesystem;

// The base model of an adapter: --model, else what its args.json recorded, else adapter_config.json's.
std::string base_model_of(const std::string& adapter_dir, const std::optional<std::string>& model, bool use_hf) {
  if (model.has_value()) return hub::resolve_model_dir(*model, use_hf);
  const checkpoint::TrainedWith trained = checkpoint::read_trained_with(adapter_dir);
  if (trained.model.has_value()) return hub::resolve_model_dir(*trained.model, use_hf || trained.use_hf);
  const std::string from_config = model::read_adapter_config(adapter_dir).base_model;
  ZT_REQUIRE(!from_config.empty(), adapter_dir << ": no args.json or base_model_name_or_path names the base model; pass --model");
  return hub::resolve_model_dir(from_config, use_hf);
}

// --from_gguf FILE --output_dir DIR: the GGUF's weights dequantised, its config and tokenizer rebuilt.
int export_from_gguf(const ExportArgs& args) {
  ZT_REQUIRE(args.adapters.empty() && !args.ckpt_dir.has_value() && !args.to_peft.has_value() && !args.merge_lora &&
                 !args.model.has_value() && !args.to_gguf.has_value(),
             "--from_gguf imports a GGUF file on its own; drop --adapters, --ckpt_dir, --to_peft, --merge_lora, --model "
             "and --to_gguf");
  ZT_REQUIRE(fs::is_regular_file(*args.from_gguf), *args.from_gguf << ": no such GGUF file");
  ZT_REQUIRE(args.output_dir.has_value(), "--from_gguf needs --output_dir DIR for the Hugging Face model folder");
  ZT_REQUIRE(!args.push_to_hub || args.hub_model_id.has_value(), "--push_to_hub true needs --hub_model_id OWNER/NAME");
  const std::string out_dir = without_trailing_slash(*args.output_dir);
  ZT_REQUIRE(!fs::exists(out_dir) || fs::is_directory(out_dir), out_dir << " exists and is not a folder");
  ZT_REQUIRE(!fs::exists(out_dir) || args.exist_ok || fs::is_empty(out_dir),
             out_dir << " already exists; pass --exist_ok true to write into it");
  exporting::gguf_to_hf(*args.from_gguf, out_dir, args.torch_dtype.value_or(""), exporting::parse_size(args.max_shard_size));
  std::printf("Hugging Face model: %s\n", out_dir.c_str());
  if (args.push_to_hub) {
    hub::push_folder(out_dir, *args.hub_model_id, args.hub_token, args.hub_private_repo, args.commit_message);
    std::printf("pushed %s to the hub as %s\n", out_dir.c_str(), args.hub_model_id->c_str());
  }
  return 0;
}

// --model DIR --to_gguf TYPE --output_dir OUT: a Hugging Face model folder (or hub id) written as one GGUF file.
int export_model_to_gguf(const ExportArgs& args) {
  ZT_REQUIRE(args.model.has_value() && !args.to_peft.has_value() && !args.merge_lora,
             "--to_gguf writes a full model: give --model DIR (a Hugging Face folder), or --adapters CKPT with "
             "--merge_lora true (a LoRA adapter alone is not written as GGUF)");
  ZT_REQUIRE(args.output_dir.has_value(), "--model DIR --to_gguf " << *args.to_gguf << " needs --output_dir OUT for the GGUF file");
  ZT_REQUIRE(!args.push_to_hub || args.hub_model_id.has_value(), "--push_to_hub true needs --hub_model_id OWNER/NAME");
  const std::string model_dir = hub::resolve_model_dir(*args.model, args.use_hf);
  const std::string out_dir = without_trailing_slash(*args.output_dir);
  ZT_REQUIRE(!fs::exists(out_dir) || fs::is_directory(out_dir), out_dir << " exists and is not a folder");
  ZT_REQUIRE(!fs::exists(out_dir) || args.exist_ok || fs::is_empty(out_dir),
             out_dir << " already exists; pass --exist_ok true to write into it");
  const std::string gguf_path = (fs::path(out_dir) / exporting::gguf_file_name(model_dir, *args.to_gguf)).string();
  exporting::hf_to_gguf(model_dir, gguf_path, *args.to_gguf);
  std::printf("GGUF file: %s\n", gguf_path.c_str());
  if (args.push_to_hub) {
    hub::push_folder(out_dir, *args.hub_model_id, args.hub_token, args.hub_private_repo, args.commit_message);
    std::printf("pushed %s to the hub as %s\n", out_dir.c_str(), args.hub_model_id->c_str());
  }
  return 0;
}

}  // namespace

int run_export(const std::vector<std::string>& argv) {
  ExportArgs args;
  if (!parse_command(export_table(), argv, args)) return 0;
  if (args.from_gguf.has_value()) return export_from_gguf(args);
  if (args.to_gguf.has_value() && args.adapters.empty() && !args.ckpt_dir.has_value()) return export_model_to_gguf(args);
  ZT_REQUIRE(args.adapters.size() <= 1, "--adapters: export takes one checkpoint, " << args.adapters.size() << " given");
  std::string checkpoint = without_trailing_slash(
      args.ckpt_dir.value_or(args.adapters.empty() ? std::string() : args.adapters[0]));
  if (!checkpoint.empty() && !fs::exists(checkpoint)) {  // a hub id: downloaded (or found in the cache), as --model is
    hub::HubAccess access;
    access.use_hf = args.use_hf;
    access.token = args.hub_token;
    checkpoint = hub::resolve_adapter_dir(checkpoint, access);
  }
  ZT_REQUIRE(!checkpoint.empty(), "nothing to export: pass --adapters CKPT (with --merge_lora true or --to_peft DIR), "
                                  "--ckpt_dir CKPT --to_peft DIR, --model DIR --to_gguf TYPE --output_dir OUT, or "
                                  "--from_gguf FILE --output_dir DIR");
  ZT_REQUIRE(fs::is_directory(checkpoint), checkpoint << ": no such checkpoint folder");
  ZT_REQUIRE(!args.to_gguf.has_value() || args.merge_lora,
             "--to_gguf writes the merged model: add --merge_lora true (a LoRA adapter alone is not written as GGUF)");
  ZT_REQUIRE(args.to_peft.has_value() || args.merge_lora || args.push_to_hub,
             "what should export do? --to_peft DIR (a PEFT adapter from the shards), --merge_lora true, or "
             "--push_to_hub true --hub_model_id OWNER/NAME");
  ZT_REQUIRE(!args.push_to_hub || args.hub_model_id.has_value(), "--push_to_hub true needs --hub_model_id OWNER/NAME");

  std::string adapter_dir = checkpoint;
  if (args.to_peft.has_value()) {
    exporting::export_peft_adapter(checkpoint, *args.to_peft);
    adapter_dir = *args.to_peft;
  } else if (!fs::exists(fs::path(checkpoint) / "adapter_model.safetensors") &&
             !fs::exists(fs::path(checkpoint) / "model.safetensors")) {
    // No adapter file (an interrupted or older save): rebuild it from the shards next to the merge output.
    adapter_dir = without_trailing_slash(args.output_dir.value_or(checkpoint + "-merged")) + "-adapter";
    ZT_LOG_WARN(checkpoint << " has no adapter_model.safetensors; consolidating its shards into " << adapter_dir);
    exporting::export_peft_adapter(checkpoint, adapter_dir);
  }
  std::string result = adapter_dir;
  if (args.merge_lora) {
    exporting::MergeOptions merge;
    merge.base_dir = base_model_of(checkpoint, args.model, args.use_hf);
    if (args.to_gguf.has_value()) exporting::check_hf_to_gguf(merge.base_dir);  // fail before the merge, not after
    merge.adapter_dir = adapter_dir;
    merge.out_dir = without_trailing_slash(args.output_dir.value_or(checkpoint + "-merged"));
    merge.dtype = exporting::parse_dtype(args.torch_dtype.value_or(""));
    merge.max_shard_bytes = exporting::parse_size(args.max_shard_size);
    merge.exist_ok = args.exist_ok;
    dist::RunContext context = dist::RunContext::start();
    merge.device = context.device();
    ZT_LOG_INFO("merging on " << context.device());
    exporting::merge_lora(merge);
    result = merge.out_dir;
    std::printf("merged model: %s\n", merge.out_dir.c_str());
    if (args.to_gguf.has_value()) {  // beside the merged weights, so --push_to_hub sends both
      const std::string gguf_path = (fs::path(merge.out_dir) / exporting::gguf_file_name(merge.out_dir, *args.to_gguf)).string();
      exporting::hf_to_gguf(merge.out_dir, gguf_path, *args.to_gguf);
      std::printf("GGUF file: %s\n", gguf_path.c_str());
    }
  } else if (args.to_peft.has_value()) {
    std::printf("PEFT adapter: %s\n", adapter_dir.c_str());
  }
  if (args.push_to_hub) {
    hub::push_folder(result, *args.hub_model_id, args.hub_token, args.hub_private_repo, args.commit_message);
    std::printf("pushed %s to the hub as %s\n", result.c_str(), args.hub_model_id->c_str());
  }
  return 0;
}

}  // namespace zt::cli
