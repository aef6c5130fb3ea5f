// The flag tables of every subcommand: one definition for parsing, --help and args.json.
// `.pending(N)` marks a flag whose feature lands with issue #N; until then giving it is an error.
// The ms-swift flags ztune knows but does not implement are in swift_flags.cpp.
#include <nlohmann/json.hpp>

#include "cli/infer_export_args.h"
#include "cli/sft_command.h"
#include "cli/swift_flags.h"
#include "data/chat_template.h"

namespace zt::cli {
namespace {

const std::vector<std::string> kDtypes = {"bfloat16", "float16", "float32", "auto", "bf16", "fp16", "fp32"};

// Where the model and chat flags land, for the commands that load a model and format chats.
template <class A, class Model>
struct ModelFlagFields {
  args::Field<A, Model> model;
  args::Field<A, std::optional<std::string>> torch_dtype, template_name, template_backend, chat_template_kwargs, system;
  args::Field<A, std::optional<int>> max_length;
  args::Field<A, bool> use_hf;
  args::Field<A, std::optional<std::string>> model_revision;
};

template <class A, class Model>
void add_model_flags(args::Table& table, const ModelFlagFields<A, Model>& f) {
  table.section("model");
  table.add("model", f.model, "model folder or hub id (Qwen/Qwen2.5-7B-Instruct)");
  table.add("torch_dtype", f.torch_dtype, "weights dtype; default from config.json").one_of(kDtypes);
  table.add("template", f.template_name, "chat template; default: as ms-swift chooses it (args.json, model name, the model's chat template)")
      .one_of(data::template_names());
  table.add("template_backend", f.template_backend,
            "swift: ms-swift's templates; jinja: the model's own chat template (as --template jinja)")
      .one_of({"swift", "jinja"});
  table.add("chat_template_kwargs", f.chat_template_kwargs,
            "JSON object of extra variables for a Jinja chat template, e.g. '{\"enable_thinking\": false}'");
  table.add("system", f.system, "system prompt; default from the template");
  table.add("max_length", f.max_length, "max tokens per sample; default: the model's max positions").at_least(1);
  table.add("use_hf", f.use_hf, "hub ids from the Hugging Face hub (and its cache) instead of ModelScope");
  table.add("model_revision", f.model_revision,
            "hub revision (branch, tag or commit) of a --model hub id; default master (ModelScope), main (Hugging Face)");
}

// `ztune sft`'s flags land in the run's configuration (config) or, for the few that are no component's option as
// given, in SftFlagsOnly (flags).
template <class... Members>
auto config(Members... members) {
  return args::field(&SftCommand::config, members...);
}
template <class... Members>
auto flags_only(Members... members) {
  return args::field(&SftCommand::flags, members...);
}

using train::DataSetup;
using train::LoopSetup;
using train::ModelSetup;
using train::OptimSetup;
using train::PushSetup;
using train::TrainConfig;

// --packing_length: ms-swift's None is the pipeline's 0 (max_length).
args::Field<SftCommand, std::optional<int>> packing_length_field() {
  return {[](SftCommand& c, std::optional<int> value) { c.config.data.pipeline.packing_length = value.value_or(0); },
          [](const SftCommand& c) {
            const int32_t value = c.config.data.pipeline.packing_length;
            return value > 0 ? std::optional<int>(value) : std::nullopt;
          }};
}

// --train_type lora | full.
args::Field<SftCommand, std::string> train_type_field() {
  return {[](SftCommand& c, std::string value) { c.config.model.full_training = value == "full"; },
          [](const SftCommand& c) { return std::string(c.config.model.full_training ? "full" : "lora"); }};
}

}  // namespace

const args::Table& sft_table() {
  static const args::Table table = [] {
    using A = SftCommand;
    using data::PipelineOptions;
    using data::ReaderOptions;
    using model::LoraConfig;
    args::Table t("sft", "Fine-tune a model with LoRA (or full) on chat data, single process or under mpirun/srun.");
    add_model_flags(t, ModelFlagFields<A, std::string>{
                           config(&TrainConfig::model, &ModelSetup::model), config(&TrainConfig::model, &ModelSetup::torch_dtype),
                           config(&TrainConfig::data, &DataSetup::template_name), flags_only(&SftFlagsOnly::template_backend),
                           config(&TrainConfig::data, &DataSetup::chat_template_kwargs), config(&TrainConfig::data, &DataSetup::system),
                           config(&TrainConfig::data, &DataSetup::max_length), config(&TrainConfig::model, &ModelSetup::use_hf),
                           config(&TrainConfig::model, &ModelSetup::revision)});
    t.add("model_type", flags_only(&SftFlagsOnly::model_type), "model family; default from config.json");
    t.add("attn_impl", config(&TrainConfig::model, &ModelSetup::attn_impl), "attention kernel")
        .one_of({"sdpa", "eager", "flash_attn", "flash_attention_2"});
    t.add("truncation_strategy", config(&TrainConfig::data, &DataSetup::pipeline, &PipelineOptions::truncation),
          "what to do with samples over max_length");
    t.add("loss_scale", config(&TrainConfig::data, &DataSetup::pipeline, &PipelineOptions::loss_scale),
          "which assistant turns carry loss");

    t.section("data");
    t.add("dataset", config(&TrainConfig::data, &DataSetup::dataset), "[HF::|MS::]path_or_id[:subset][#N] ... (.jsonl, .json, .csv)");
    t.add("val_dataset", config(&TrainConfig::data, &DataSetup::val_dataset), "validation datasets");
    t.add("split_dataset_ratio", config(&TrainConfig::data, &DataSetup::split_dataset_ratio),
          "fraction of the data held out for validation")
        .at_least(0).below(1);
    t.add("columns", flags_only(&SftFlagsOnly::columns), "JSON map renaming dataset columns, applied first");
    t.add("strict", config(&TrainConfig::data, &DataSetup::pipeline, &PipelineOptions::strict),
          "true: a bad row is an error; false: skipped and counted");
    t.add("dataset_shuffle", config(&TrainConfig::data, &DataSetup::reader, &ReaderOptions::shuffle), "shuffle the training data");
    t.add("streaming", config(&TrainConfig::data, &DataSetup::streaming), "stream the data (needs --max_steps)");
    t.add("shuffle_buffer_size", config(&TrainConfig::data, &DataSetup::reader, &ReaderOptions::shuffle_buffer_size),
          "shuffle buffer for streaming").at_least(1);
    t.add("seed", config(&TrainConfig::model, &ModelSetup::seed), "random seed (init, dropout)")
        .at_least(0, "numpy and torch take seeds from 0");
    t.add("data_seed", config(&TrainConfig::data, &DataSetup::reader, &ReaderOptions::data_seed),
          "random seed of data order and splits")
        .at_least(0, "numpy and torch take seeds from 0");
    t.add("dataset_num_proc", flags_only(&SftFlagsOnly::dataset_num_proc),
          "accepted for ms-swift command lines; ztune has no preprocessing pass (rows are encoded as they stream)")
              .at_least(1);
    t.add("dataloader_num_workers", flags_only(&SftFlagsOnly::dataloader_num_workers),
          "accepted for ms-swift command lines; rows are prepared on the training thread").at_least(0);
    t.add("packing", config(&TrainConfig::data, &DataSetup::pipeline, &PipelineOptions::packing), "pack several samples into each row");
    t.add("packing_length", packing_length_field(), "tokens per packed row; default: max_length").at_least(1);
    t.add("lazy_tokenize", flags_only(&SftFlagsOnly::lazy_tokenize),
          "accepted for ms-swift command lines; ztune always encodes rows as they stream (the same rows either way)");
    t.add("model_name", flags_only(&SftFlagsOnly::model_name), "self-cognition: the model's name for {{NAME}} in the data ([zh] [en])");
    t.add("model_author", flags_only(&SftFlagsOnly::model_author), "self-cognition: the author for {{AUTHOR}} in the data ([zh] [en])");
    t.add("padding_free", flags_only(&SftFlagsOnly::padding_free),
          "concatenate a batch into one row without padding (ztune always does: rows are never padded)");

    t.section("tuner");
    t.add("train_type", train_type_field(), "what to train").alias("tuner_type").one_of({"lora", "full"});
    t.add("lora_rank", config(&TrainConfig::model, &ModelSetup::lora, &LoraConfig::rank), "LoRA rank r")
        .at_least(1, "PEFT refuses r <= 0");
    t.add("lora_alpha", args::as<int>(config(&TrainConfig::model, &ModelSetup::lora, &LoraConfig::alpha)),
          "LoRA alpha; scaling = alpha / r").above(0, "scaling = alpha / r");
    t.add("lora_dropout", config(&TrainConfig::model, &ModelSetup::lora, &LoraConfig::dropout), "dropout on the LoRA input")
        .at_least(0, "torch.nn.Dropout's rule").at_most(1);
    t.add("lora_bias", config(&TrainConfig::model, &ModelSetup::lora, &LoraConfig::bias), "LoRA bias").one_of({"none"});
    t.add("use_rslora", config(&TrainConfig::model, &ModelSetup::lora, &LoraConfig::use_rslora),
          "rank-stabilised scaling alpha / sqrt(r)");
    t.add("target_modules", config(&TrainConfig::model, &ModelSetup::lora, &LoraConfig::target_modules),
          "modules given LoRA: all-linear, names, or a regex");
    t.add("target_parameters", flags_only(&SftFlagsOnly::target_parameters),
          "parameters given LoRA as parameters: a mixture of experts' stacked gate_up_proj and down_proj, a router's "
          "gate.weight (PEFT's target_parameters; needs --lora_dropout 0)");
    t.add("router_aux_loss_coef", config(&TrainConfig::model, &ModelSetup::router_aux_loss_coef),
          "weight of the mixture of experts' load-balancing loss added to the loss (0: not computed)")
        .at_least(0);
    t.add("expert_model_parallel_size", config(&TrainConfig::model, &ModelSetup::expert_model_parallel_size),
          "expert parallelism (Megatron-SWIFT's flag): each group of N consecutive ranks splits every mixture of "
          "experts' experts N ways and exchanges tokens by all-to-all; LoRA only, N divides the ranks and the experts")
        .at_least(1);
    t.add("experts_impl", flags_only(&SftFlagsOnly::experts_impl),
          "accepted for ms-swift command lines; ztune's experts always run as grouped products")
        .one_of({"grouped_mm", "batched_mm", "eager"});
    t.add("modules_to_save", config(&TrainConfig::model, &ModelSetup::lora, &LoraConfig::modules_to_save),
          "modules trained in full beside LoRA (embed_tokens, lm_head)");
    t.add("adapters", flags_only(&SftFlagsOnly::adapters), "continue training from this PEFT adapter (its r, alpha and targets are used)");

    t.section("schedule and optimiser");
    t.add("num_train_epochs", config(&TrainConfig::loop, &LoopSetup::num_train_epochs), "epochs").above(0);
    t.add("max_steps", config(&TrainConfig::loop, &LoopSetup::max_steps), "optimizer steps; -1: from epochs").at_least(1).or_value(-1);
    t.add("per_device_train_batch_size", config(&TrainConfig::loop, &LoopSetup::per_device_train_batch_size),
          "micro-batch per rank").at_least(1);
    t.add("per_device_eval_batch_size", config(&TrainConfig::loop, &LoopSetup::per_device_eval_batch_size),
          "eval batch per rank").at_least(1);
    t.add("gradient_accumulation_steps", config(&TrainConfig::loop, &LoopSetup::gradient_accumulation_steps),
          "micro-batches per step; default max(1, ceil(16 / batch / world))").at_least(1);
    t.add("learning_rate", flags_only(&SftFlagsOnly::learning_rate), "peak learning rate; default 1e-4 (lora), 1e-5 (full)")
        .at_least(0, "torch.optim.AdamW's rule");
    t.add("lr_scheduler_type", config(&TrainConfig::optim, &OptimSetup::schedule, &train::ScheduleConfig::type),
          "learning-rate schedule")
        .one_of({"cosine", "linear", "constant", "constant_with_warmup"});
    t.add("warmup_ratio", config(&TrainConfig::optim, &OptimSetup::schedule, &train::ScheduleConfig::warmup_ratio),
          "warm-up as a fraction of steps")
        .at_least(0, "transformers' rule").at_most(1);
    t.add("warmup_steps", config(&TrainConfig::optim, &OptimSetup::schedule, &train::ScheduleConfig::warmup_steps),
          "warm-up steps (overrides warmup_ratio)").at_least(0);
    t.add("weight_decay", config(&TrainConfig::optim, &OptimSetup::adam, &optim::AdamWConfig::weight_decay), "AdamW weight decay")
        .at_least(0, "torch.optim.AdamW's rule");
    t.add("adam_beta1", config(&TrainConfig::optim, &OptimSetup::adam, &optim::AdamWConfig::beta1), "AdamW beta1")
        .at_least(0, "torch.optim.AdamW's rule").below(1);
    t.add("adam_beta2", config(&TrainConfig::optim, &OptimSetup::adam, &optim::AdamWConfig::beta2), "AdamW beta2")
        .at_least(0, "torch.optim.AdamW's rule").below(1);
    t.add("adam_epsilon", config(&TrainConfig::optim, &OptimSetup::adam, &optim::AdamWConfig::eps), "AdamW epsilon")
        .at_least(0, "torch.optim.AdamW's rule");
    t.add("max_grad_norm", config(&TrainConfig::optim, &OptimSetup::max_grad_norm), "clip the global gradient norm to this")
        .at_least(0, "0 turns clipping off");
    t.add("gradient_checkpointing", config(&TrainConfig::model, &ModelSetup::gradient_checkpointing),
          "recompute activations in backward");
    t.add("bf16", config(&TrainConfig::model, &ModelSetup::bf16), "train in bfloat16 with fp32 master weights");
    t.add("fp16", config(&TrainConfig::model, &ModelSetup::fp16), "train in float16 with loss scaling");
    t.add("deepspeed", flags_only(&SftFlagsOnly::deepspeed),
          "ZeRO: zero0|zero1|zero2|zero3|PATH.json (DeepSpeed keys; offload is refused)");
    t.add("ddp_timeout", args::as<int>(config(&TrainConfig::loop, &LoopSetup::ddp_timeout_s)),
          "seconds a collective may take before the job ends, naming the rank")
        .at_least(1);

    t.section("saving, evaluation and logging");
    t.add("output_dir", config(&TrainConfig::loop, &LoopSetup::output_dir), "run folder parent; default output/<model name>");
    t.add("add_version", config(&TrainConfig::loop, &LoopSetup::add_version),
          "run folder output_dir/vN-<time>; false: output_dir itself");
    t.add("save_strategy", config(&TrainConfig::loop, &LoopSetup::save_strategy),
          "when to checkpoint (the last step is always saved)");
    t.add("save_steps", config(&TrainConfig::loop, &LoopSetup::save_steps),
          "checkpoint every N steps (the last step is always saved)").at_least(1);
    t.add("save_total_limit", config(&TrainConfig::loop, &LoopSetup::save_total_limit), "keep at most N checkpoints").at_least(1);
    t.add("save_only_model", config(&TrainConfig::loop, &LoopSetup::save_only_model),
          "save weights without optimizer state (resume needs --resume_only_model)");
    t.add("eval_strategy", config(&TrainConfig::loop, &LoopSetup::eval_strategy), "when to evaluate on the validation rows");
    t.add("load_best_model_at_end", config(&TrainConfig::loop, &LoopSetup::load_best_model_at_end),
          "keep the best checkpoint (by --metric_for_best_model) whatever save_total_limit says; report and push it");
    t.add("metric_for_best_model", flags_only(&SftFlagsOnly::metric_for_best_model),
          "loss or token_acc (eval_ prefix allowed); default loss")
        .one_of({"loss", "eval_loss", "token_acc", "eval_token_acc"});
    t.add("greater_is_better", flags_only(&SftFlagsOnly::greater_is_better), "default: false for loss, true for token_acc");
    t.add("eval_steps", flags_only(&SftFlagsOnly::eval_steps),
          "evaluate on the validation rows every N steps (and at the end); default: save_steps")
        .at_least(1);
    t.add("logging_steps", config(&TrainConfig::loop, &LoopSetup::logging_steps), "log every N steps").at_least(1);
    t.add("logging_first_step", config(&TrainConfig::loop, &LoopSetup::logging_first_step), "also log step 1");
    t.add("report_to", flags_only(&SftFlagsOnly::report_to),
          "where metrics go: tensorboard (event files under runs/), swanlab (the SwanLab SDK, see --swanlab_*), none; "
          "all = tensorboard")
        .one_of({"tensorboard", "swanlab", "none", "all"});
    t.add("resume_from_checkpoint", config(&TrainConfig::loop, &LoopSetup::resume_from_checkpoint),
          "checkpoint folder to resume from");
    t.add("resume_only_model", config(&TrainConfig::loop, &LoopSetup::resume_only_model),
          "resume weights only (fresh optimizer and data)");
    t.add("ignore_data_skip", config(&TrainConfig::loop, &LoopSetup::ignore_data_skip),
          "on resume, start the data from the beginning");
    t.add("ignore_run_lock", config(&TrainConfig::loop, &LoopSetup::ignore_run_lock),
          "train in the run folder even if another ztune run holds it (its .ztune-run.lock); for a holder that is "
          "gone without a trace (ztune)");
    t.add("dry_run", config(&TrainConfig::loop, &LoopSetup::dry_run),
          "print the memory, traffic and time estimate of this run (ztune estimate) and exit without loading weights "
          "or data (ztune)");

    t.section("SwanLab");
    using train::SwanLabSetup;
    t.add("swanlab_token", flags_only(&SftFlagsOnly::swanlab, &SwanLabSetup::token),
          "API key (or env SWANLAB_API_KEY); never written anywhere").hidden_value();
    t.add("swanlab_project", flags_only(&SftFlagsOnly::swanlab, &SwanLabSetup::project), "project");
    t.add("swanlab_workspace", flags_only(&SftFlagsOnly::swanlab, &SwanLabSetup::workspace), "workspace");
    t.add("swanlab_exp_name", flags_only(&SftFlagsOnly::swanlab, &SwanLabSetup::experiment_name), "experiment name");
    t.add("swanlab_mode", flags_only(&SftFlagsOnly::swanlab, &SwanLabSetup::mode),
          "cloud (upload), local (the local dashboard), offline (records for `swanlab sync`), disabled")
        .one_of({"cloud", "local", "offline", "disabled"});

    t.section("hub");
    t.add("push_to_hub", config(&TrainConfig::push, &PushSetup::push_to_hub), "push the final adapter to the ModelScope hub");
    t.add("hub_model_id", config(&TrainConfig::push, &PushSetup::hub_model_id), "hub repository owner/name");
    t.add("hub_token", config(&TrainConfig::push, &PushSetup::hub_token), "hub token (or env MODELSCOPE_API_TOKEN)")
        .hidden_value();
    t.add("hub_private_repo", config(&TrainConfig::push, &PushSetup::hub_private_repo), "create the repository private");
    add_sft_swift_flags(t);
    return t;
  }();
  return table;
}

const args::Table& infer_table() {
  static const args::Table table = [] {
    using A = InferArgs;
    args::Table t("infer", "Chat with a model or adapter in the terminal, or run batch inference over a dataset.");
    add_model_flags(t, ModelFlagFields<A, std::optional<std::string>>{
                           args::field(&A::model), args::field(&A::torch_dtype), args::field(&A::template_name),
                           args::field(&A::template_backend), args::field(&A::chat_template_kwargs),
                           args::field(&A::system), args::field(&A::max_length), args::field(&A::use_hf),
                           args::field(&A::model_revision)});
    t.add("adapters", &A::adapters, "LoRA checkpoint folders");
    t.add("load_args", &A::load_args, "read model, template, system and dtype from the checkpoint's args.json");
    t.section("generation");
    t.add("infer_backend", &A::infer_backend,
          "inference engine: native (pt, transformers: the same); vllm hands the model to vLLM when python3 can "
          "import it (else ztune's engine, with one line saying why); sglang, lmdeploy are served by ztune's own "
          "engine with a warning")
        .one_of({"native", "pt", "transformers", "vllm", "sglang", "lmdeploy"});
    t.add("max_batch_size", &A::max_batch_size, "prompts decoded together in batch inference").at_least(1);
    t.add("stream", &A::stream, "print tokens as they are generated; default true when interactive");
    t.add("temperature", &A::temperature, "sampling temperature; 0 is greedy; default from generation_config.json")
        .at_least(0, "0 is greedy");
    t.add("top_p", &A::top_p, "nucleus sampling mass").above(0, "transformers' rule").at_most(1);
    t.add("top_k", &A::top_k, "sample among the k most likely tokens").at_least(0, "0 keeps every token").or_value(-1);
    t.add("repetition_penalty", &A::repetition_penalty, "penalty on already generated tokens")
        .above(0, "transformers' rule");
    t.add("max_new_tokens", &A::max_new_tokens, "tokens generated per reply").at_least(1);
    t.add("merge_lora", &A::merge_lora, "merge the adapter into CKPT-merged first");
    t.add("val_dataset", &A::val_dataset, "run batch inference over these datasets");
    t.add("model_name", &A::model_name, "self-cognition: the model's name for {{NAME}} in --val_dataset ([zh] [en])");
    t.add("model_author", &A::model_author, "self-cognition: the author for {{AUTHOR}} in --val_dataset ([zh] [en])");
    t.add("lazy_tokenize", &A::lazy_tokenize, "accepted for ms-swift command lines; prompts are encoded as read");
    t.add("result_path", &A::result_path, "jsonl written by batch inference");
    t.add("seed", &A::seed, "sampling seed").at_least(0, "numpy and torch take seeds from 0");
    t.section("vLLM (--infer_backend vllm)");
    t.add("vllm_gpu_memory_utilization", &A::vllm_gpu_memory_utilization, "share of GPU memory vLLM may take")
        .above(0, "vLLM's rule").at_most(1);
    t.add("vllm_tensor_parallel_size", &A::vllm_tensor_parallel_size, "GPUs one model is split over").at_least(1);
    t.add("vllm_max_num_seqs", &A::vllm_max_num_seqs, "sequences vLLM decodes together").at_least(1);
    t.add("vllm_max_model_len", &A::vllm_max_model_len, "context length; default the model's").at_least(1);
    t.add("vllm_enforce_eager", &A::vllm_enforce_eager, "no CUDA graphs");
    t.add("vllm_max_lora_rank", &A::vllm_max_lora_rank, "largest LoRA rank served (an adapter without --merge_lora)")
        .at_least(1);
    t.add("vllm_enable_prefix_caching", &A::vllm_enable_prefix_caching, "reuse the KV cache of shared prefixes");
    t.add("vllm_disable_custom_all_reduce", &A::vllm_disable_custom_all_reduce, "NCCL all-reduce only");
    t.add("vllm_engine_kwargs", &A::vllm_engine_kwargs, "more keyword arguments of vllm.LLM, as a JSON object");
    add_infer_swift_flags(t);
    return t;
  }();
  return table;
}

const args::Table& export_table() {
  static const args::Table table = [] {
    using A = ExportArgs;
    args::Table t("export", "Consolidate checkpoints into PEFT adapters, merge LoRA into the base model, import or write a GGUF file, push to the hub.");
    t.section("input");
    t.add("adapters", &A::adapters, "LoRA checkpoint folder");
    t.add("model", &A::model, "base model; default from the adapter's args.json");
    t.add("ckpt_dir", &A::ckpt_dir, "checkpoint whose per-rank shards are consolidated");
    t.add("to_peft", &A::to_peft, "folder receiving the consolidated PEFT adapter");
    t.add("from_gguf", &A::from_gguf,
          "llama.cpp GGUF file (llama, qwen2) written to --output_dir as a Hugging Face model folder");
    t.add("torch_dtype", &A::torch_dtype, "dtype of merged weights (--from_gguf: float32, the default, or bfloat16)")
        .one_of(kDtypes);
    t.add("to_gguf", &A::to_gguf,
          "also write a llama.cpp GGUF file (llama, mistral, qwen2, qwen3) of the merged model (--merge_lora true) or of "
          "--model into --output_dir")
        .one_of({"f16", "bf16", "q8_0"});
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
    add_export_swift_flags(t);
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

