// The flag tables of every subcommand: one definition for parsing, --help and args.json.
// `.pending(N)` marks a flag whose feature lands with issue #N; until then giving it is an error.
#include <nlohmann/json.hpp>

#include "cli/infer_export_args.h"
#include "cli/sft_args.h"

namespace zt::cli {
namespace {


const std::vector<std::string> kDtypes = {"bfloat16", "float16", "float32", "auto", "bf16", "fp16", "fp32"};

// Flags shared by the commands that load a model and format chats.
template <class A>
void add_model_flags(args::Table& table) {
  table.section("model");
  table.add("model", &A::model, "model folder or hub id (Qwen/Qwen2.5-7B-Instruct)");
  table.add("torch_dtype", &A::torch_dtype, "weights dtype; default from config.json").one_of(kDtypes);
  table.add("template", &A::template_name, "chat template; default from the model's tokenizer_config.json")
      .one_of({"qwen2_5", "qwen", "llama3", "default"});
  table.add("system", &A::system, "system prompt; default from the template");
  table.add("max_length", &A::max_length, "max tokens per sample; default: the model's max positions");
  table.add("use_hf", &A::use_hf, "resolve hub ids against the Hugging Face cache instead of ModelScope's");
}

}  // namespace

const args::Table& sft_table() {
  static const args::Table table = [] {
    using A = SftArgs;
    args::Table t("sft", "Fine-tune a model with LoRA (or full) on chat data, single process or under mpirun/srun.");
    add_model_flags<A>(t);
    t.add("model_type", &A::model_type, "model family; default from config.json");
    t.add("attn_impl", &A::attn_impl, "attention kernel").one_of({"sdpa", "eager", "flash_attn", "flash_attention_2"});
    t.add("truncation_strategy", &A::truncation_strategy, "what to do with samples over max_length")
        .one_of({"delete", "left", "right"});
    t.add("loss_scale", &A::loss_scale, "which assistant turns carry loss").one_of({"default", "last_round", "all"});

    t.section("data");
    t.add("dataset", &A::dataset, "[HF::|MS::]path_or_id[:subset][#N] ... (.jsonl, .json, .csv)");
    t.add("val_dataset", &A::val_dataset, "validation datasets");
    t.add("split_dataset_ratio", &A::split_dataset_ratio, "fraction of the data held out for validation");
    t.add("columns", &A::columns, "JSON map renaming dataset columns, applied first");
    t.add("strict", &A::strict, "true: a bad row is an error; false: skipped and counted");
    t.add("dataset_shuffle", &A::dataset_shuffle, "shuffle the training data");
    t.add("streaming", &A::streaming, "stream the data (needs --max_steps)");
    t.add("shuffle_buffer_size", &A::shuffle_buffer_size, "shuffle buffer for streaming");
    t.add("seed", &A::seed, "random seed (init, dropout)");
    t.add("data_seed", &A::data_seed, "random seed of data order and splits");
    t.add("dataset_num_proc", &A::dataset_num_proc,
          "accepted for ms-swift command lines; ztune has no preprocessing pass (rows are encoded as they stream)");
    t.add("dataloader_num_workers", &A::dataloader_num_workers,
          "accepted for ms-swift command lines; rows are prepared on the training thread");
    t.add("packing", &A::packing, "pack several samples into each row");
    t.add("packing_length", &A::packing_length, "tokens per packed row; default: max_length");
    t.add("padding_free", &A::padding_free,
          "concatenate a batch into one row without padding (ztune always does: rows are never padded)");

    t.section("tuner");
    t.add("train_type", &A::train_type, "what to train").alias("tuner_type").one_of({"lora", "full"});
    t.add("lora_rank", &A::lora_rank, "LoRA rank r");
    t.add("lora_alpha", &A::lora_alpha, "LoRA alpha; scaling = alpha / r");
    t.add("lora_dropout", &A::lora_dropout, "dropout on the LoRA input");
    t.add("lora_bias", &A::lora_bias, "LoRA bias").one_of({"none"});
    t.add("use_rslora", &A::use_rslora, "rank-stabilised scaling alpha / sqrt(r)");
    t.add("target_modules", &A::target_modules, "modules given LoRA: all-linear, names, or a regex");
    t.add("modules_to_save", &A::modules_to_save, "modules trained in full beside LoRA (embed_tokens, lm_head)");
    t.add("adapters", &A::adapters, "continue training from this PEFT adapter (its r, alpha and targets are used)");

    t.section("schedule and optimiser");
    t.add("num_train_epochs", &A::num_train_epochs, "epochs");
    t.add("max_steps", &A::max_steps, "optimizer steps; -1: from epochs");
    t.add("per_device_train_batch_size", &A::per_device_train_batch_size, "micro-batch per rank");
    t.add("per_device_eval_batch_size", &A::per_device_eval_batch_size, "eval batch per rank");
    t.add("gradient_accumulation_steps", &A::gradient_accumulation_steps,
          "micro-batches per step; default max(1, ceil(16 / batch / world))");
    t.add("learning_rate", &A::learning_rate, "peak learning rate; default 1e-4 (lora), 1e-5 (full)");
    t.add("lr_scheduler_type", &A::lr_scheduler_type, "learning-rate schedule")
        .one_of({"cosine", "linear", "constant", "constant_with_warmup"});
    t.add("warmup_ratio", &A::warmup_ratio, "warm-up as a fraction of steps");
    t.add("warmup_steps", &A::warmup_steps, "warm-up steps (overrides warmup_ratio)");
    t.add("weight_decay", &A::weight_decay, "AdamW weight decay");
    t.add("adam_beta1", &A::adam_beta1, "AdamW beta1");
    t.add("adam_beta2", &A::adam_beta2, "AdamW beta2");
    t.add("adam_epsilon", &A::adam_epsilon, "AdamW epsilon");
    t.add("max_grad_norm", &A::max_grad_norm, "clip the global gradient norm to this");
    t.add("gradient_checkpointing", &A::gradient_checkpointing, "recompute activations in backward");
    t.add("bf16", &A::bf16, "train in bfloat16 with fp32 master weights");
    t.add("fp16", &A::fp16, "train in float16 with loss scaling");
    t.add("deepspeed", &A::deepspeed, "ZeRO: zero0|zero1|zero2|zero3|PATH.json (DeepSpeed keys; offload is refused)");
    t.add("ddp_timeout", &A::ddp_timeout, "seconds a collective may take before the job ends, naming the rank");

    t.section("saving, evaluation and logging");
    t.add("output_dir", &A::output_dir, "run folder parent; default output/<model name>");
    t.add("save_steps", &A::save_steps, "checkpoint every N steps (the last step is always saved)");
    t.add("save_total_limit", &A::save_total_limit, "keep at most N checkpoints");
    t.add("save_only_model", &A::save_only_model, "save weights without optimizer state (resume needs --resume_only_model)");
    t.add("eval_steps", &A::eval_steps, "evaluate on the validation rows every N steps (and at the end); default: save_steps");
    t.add("logging_steps", &A::logging_steps, "log every N steps");
    t.add("logging_first_step", &A::logging_first_step, "also log step 1");
    t.add("report_to", &A::report_to, "where metrics go: TensorBoard files under runs/ (swanlab is refused: no cloud access)")
        .one_of({"tensorboard", "swanlab", "none", "all"});
    t.add("resume_from_checkpoint", &A::resume_from_checkpoint, "checkpoint folder to resume from");
    t.add("resume_only_model", &A::resume_only_model, "resume weights only (fresh optimizer and data)");
    t.add("ignore_data_skip", &A::ignore_data_skip, "on resume, start the data from the beginning");

    t.section("SwanLab");
    t.add("swanlab_token", &A::swanlab_token, "API key (or env SWANLAB_API_KEY); never written anywhere").hidden_value();
    t.add("swanlab_project", &A::swanlab_project, "project");
    t.add("swanlab_workspace", &A::swanlab_workspace, "workspace");
    t.add("swanlab_exp_name", &A::swanlab_exp_name, "experiment name");
    t.add("swanlab_mode", &A::swanlab_mode, "mode").one_of({"cloud", "local"});

    t.section("hub");
    t.add("push_to_hub", &A::push_to_hub, "push the final adapter to the ModelScope hub");
    t.add("hub_model_id", &A::hub_model_id, "hub repository owner/name");
    t.add("hub_token", &A::hub_token, "hub token (or env MODELSCOPE_API_TOKEN)").hidden_value();
    t.add("hub_private_repo", &A::hub_private_repo, "create the repository private");
    return t;
  }();
  return table;
}

const args::Table& infer_table() {
  static const args::Table table = [] {
    using A = InferArgs;
    args::Table t("infer", "Chat with a model or adapter in the terminal, or run batch inference over a dataset.");
    add_model_flags<A>(t);
    t.add("adapters", &A::adapters, "LoRA checkpoint folders");
    t.add("load_args", &A::load_args, "read model, template, system and dtype from the checkpoint's args.json");
    t.section("generation");
    t.add("infer_backend", &A::infer_backend, "inference engine (pt is accepted as native)").one_of({"native", "pt"});
    t.add("max_batch_size", &A::max_batch_size, "prompts decoded together in batch inference");
    t.add("stream", &A::stream, "print tokens as they are generated; default true when interactive");
    t.add("temperature", &A::temperature, "sampling temperature; 0 is greedy; default from generation_config.json");
    t.add("top_p", &A::top_p, "nucleus sampling mass");
    t.add("top_k", &A::top_k, "sample among the k most likely tokens");
    t.add("repetition_penalty", &A::repetition_penalty, "penalty on already generated tokens");
    t.add("max_new_tokens", &A::max_new_tokens, "tokens generated per reply");
    t.add("merge_lora", &A::merge_lora, "merge the adapter into CKPT-merged first");
    t.add("val_dataset", &A::val_dataset, "run batch inference over these datasets");
    t.add("result_path", &A::result_path, "jsonl written by batch inference");
    t.add("seed", &A::seed, "sampling seed");
    return t;
  }();
  return table;
}

const args::Table& export_table() {
  static const args::Table table = [] {
    using A = ExportArgs;
    args::Table t("export", "Consolidate checkpoints into PEFT adapters, merge LoRA into the base model, push to the hub.");
    t.section("input");
    t.add("adapters", &A::adapters, "LoRA checkpoint folder");
    t.add("model", &A::model, "base model; default from the adapter's args.json");
    t.add("ckpt_dir", &A::ckpt_dir, "checkpoint whose per-rank shards are consolidated");
    t.add("to_peft", &A::to_peft, "folder receiving the consolidated PEFT adapter");
    t.add("torch_dtype", &A::torch_dtype, "dtype of merged weights").one_of(kDtypes);
    t.section("merge");
    t.add("merge_lora", &A::merge_lora, "write the base model with the adapter merged in");
    t.add("output_dir", &A::output_dir, "output folder; default CKPT-merged");
    t.add("exist_ok", &A::exist_ok, "allow writing into an existing output folder");
    t.add("max_shard_size", &A::max_shard_size, "largest safetensors shard (5GB, 500MB, 2GiB)");
    t.section("hub");
    t.add("push_to_hub", &A::push_to_hub, "push the result to the ModelScope hub");
    t.add("hub_model_id", &A::hub_model_id, "hub repository owner/name");
    t.add("hub_token", &A::hub_token, "hub token (or env MODELSCOPE_API_TOKEN)").hidden_value();
    t.add("hub_private_repo", &A::hub_private_repo, "create the repository private");
    t.add("commit_message", &A::commit_message, "hub commit message");
    t.add("use_hf", &A::use_hf, "resolve the base model in the Hugging Face cache (pushing goes to ModelScope)");
    return t;
  }();
  return table;
}

const args::Table& upload_table() {
  static const args::Table table = [] {
    using A = UploadArgs;
    args::Table t("upload", "Upload a file or folder to a ModelScope model or dataset repository.");
    t.positional("REPO_ID", &A::repo_id, "owner/name");
    t.positional("LOCAL_PATH", &A::local_path, "file or folder to upload");
    t.positional("PATH_IN_REPO", &A::path_in_repo, "destination path in the repository");
    t.add("repo_type", &A::repo_type, "repository kind").alias("repo-type").one_of({"model", "dataset"});
    t.add("token", &A::token, "hub token (or env MODELSCOPE_API_TOKEN, or the saved login)").hidden_value();
    t.add("commit_message", &A::commit_message, "commit message");
    t.add("revision", &A::revision, "branch");
    return t;
  }();
  return table;
}

const args::Table& login_table() {
  static const args::Table table = [] {
    using A = LoginArgs;
    args::Table t("login", "Check a ModelScope token and save it for later hub commands.");
    t.add("token", &A::token, "hub access token").hidden_value();
    return t;
  }();
  return table;
}

}  // namespace zt::cli

