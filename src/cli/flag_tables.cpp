// The flag tables of every subcommand: one definition for parsing, --help and args.json.
// `.pending(N)` marks a flag whose feature lands with issue #N; until then giving it is an error.
// The ms-swift flags ztune knows but does not implement follow the shared model flags.
#include <nlohmann/json.hpp>

#include "cli/infer_export_args.h"
#include "cli/sft_args.h"
#include "data/chat_template.h"

namespace zt::cli {
namespace {

const std::vector<std::string> kDtypes = {"bfloat16", "float16", "float32", "auto", "bf16", "fp16", "fp32"};

// Flags shared by the commands that load a model and format chats.
template <class A>
void add_model_flags(args::Table& table) {
  table.section("model");
  table.add("model", &A::model, "model folder or hub id (Qwen/Qwen2.5-7B-Instruct)");
  table.add("torch_dtype", &A::torch_dtype, "weights dtype; default from config.json").one_of(kDtypes);
  table.add("template", &A::template_name, "chat template; default: as ms-swift chooses it (args.json, model name, the model's chat template)")
      .one_of(data::template_names());
  table.add("template_backend", &A::template_backend,
            "swift: ms-swift's templates; jinja: the model's own chat template (as --template jinja)")
      .one_of({"swift", "jinja"});
  table.add("chat_template_kwargs", &A::chat_template_kwargs,
            "JSON object of extra variables for a Jinja chat template, e.g. '{\"enable_thinking\": false}'");
  table.add("system", &A::system, "system prompt; default from the template");
  table.add("max_length", &A::max_length, "max tokens per sample; default: the model's max positions").at_least(1);
  table.add("use_hf", &A::use_hf, "hub ids from the Hugging Face hub (and its cache) instead of ModelScope");
  table.add("model_revision", &A::model_revision,
            "hub revision (branch, tag or commit) of a --model hub id; default master (ModelScope), main (Hugging Face)");
}

// ---- ms-swift flags that ztune knows but does not implement ----
// Every field of ms-swift 4.6's sft, infer and export argument classes is either bound above or listed here,
// so that a copied `swift ...` command line never meets "unknown flag". A refused flag is accepted at ms-swift's
// default (or the values given) and has no effect; any other value stops the command with the reason. An
// ignored flag is accepted with any value because ztune behaves the same without it. The lists follow ms-swift's
// argument classes; tests/python/check_flag_coverage.py compares them with the installed ms-swift.

using args::Kind;
constexpr Kind kBool = Kind::Bool, kInt = Kind::Int, kFloat = Kind::Float, kStr = Kind::String, kList = Kind::List;

struct SwiftFlag {
  const char* name;
  Kind kind;
  const char* accepted;  // ms-swift's default as text, "a|b" for several; "": the default is leaving it out
  bool secret = false;   // the value is never echoed
};
using SwiftFlags = std::vector<SwiftFlag>;

const char* const kNotYet = "not supported yet";
const char* const kTextOnly = "ztune trains text models";
const char* const kCausalLmOnly = "ztune trains causal language models only";
const char* const kNoMoe = "MoE models are not supported yet";
const char* const kOneDevice = "ztune puts the whole model on each rank's device";
const char* const kNoPlugins = "ztune cannot load Python plugins";
const char* const kNpuOnly = "Ascend NPU only";
const char* const kNoRay = "Ray is not supported; launch with mpirun or srun";
const char* const kBackendChosen = "ztune uses NCCL on GPUs and MPI on CPUs";
const char* const kAlwaysChecked = "ztune always stops at a bad argument";
const char* const kLoraOrFull = "not supported yet; ztune trains LoRA or full";
const char* const kUnslothNotSupported = "unsloth is not supported";
const char* const kQuantizedTraining = "quantized training (QLoRA, bnb, gptq, awq) is not supported yet";
const char* const kSpeedKnob = "a PyTorch speed or memory knob that ztune's own kernels do not use";
const char* const kTrainingThread = "rows are prepared on the training thread";
const char* const kGroupByLengthOnly = "used only by --group_by_length, which is refused";
const char* const kBinpackOnly = "ztune packs best-fit-decreasing (binpack) only";
const char* const kTrainerUnused = "transformers' Trainer does not read it either";
const char* const kSftGeneratesNothing = "sft generates nothing (--predict_with_generate is refused)";
const char* const kNoCache = "ztune keeps no cache of preprocessed data";
const char* const kNoEvalscope = "EvalScope evaluation is not supported";
const char* const kLogLevelEnv = "the log level comes from env ZTUNE_LOG_LEVEL";
const char* const kLogRank0 = "rank 0 logs; env ZTUNE_LOG_ALL_RANKS=1 makes every rank log";
const char* const kNoProgressBar = "ztune prints log lines, no progress bar";
const char* const kNoTrackio = "trackio is not a --report_to choice of ztune";
const char* const kPushAtEnd = "ztune pushes the last checkpoint once, at the end (--hub_strategy end)";
const char* const kAlwaysSafetensors = "ztune always writes safetensors";
const char* const kUnshardedCheckpoints = "checkpoints are saved unsharded; 'ztune export' shards merged models";
const char* const kModelCheck = "ms-swift's warning about edited hub files; no effect on training";
const char* const kOwnGradSync = "ztune syncs gradients itself, without torch DDP";
const char* const kUseZero = "use --deepspeed zero0..zero3 (ztune's own ZeRO)";
const char* const kDevicePicked = "ztune uses the rank's GPU when there is one, else the CPU";
const char* const kLocalRankEnv = "ztune reads the local rank from the launcher's environment";
const char* const kEngineKnob =
    "ztune passes vLLM the --vllm_* flags of 'ztune infer --help' only, and does not run sglang or lmdeploy";
const char* const kResultsPerBatch = "results are written after each batch";
const char* const kNotYetInInfer = "not supported by 'ztune infer' yet";
const char* const kUseValDataset = "not supported yet; 'ztune infer' runs over --val_dataset rows as they are";
const char* const kNoPreprocessing = "ztune has no preprocessing pass";
const char* const kAdapterSaysType = "the adapter's own files say what it is";
const char* const kQuantizedModels = "quantized models are not supported yet";
const char* const kOneProcess = "this command runs no collectives";
const char* const kCacheOnly = "ztune reads hub models from the local cache and downloads nothing";
const char* const kShardInExport = "use 'ztune export --merge_lora true --max_shard_size SIZE'";
const char* const kQuantizedExport = "quantized export (awq, gptq, bnb, fp8) is not supported yet";
const char* const kNoMcore = "Megatron-Core conversion is not supported";
const char* const kNoCachedDataset = "cached datasets are not supported; ztune encodes rows as it trains";
const char* const kAlreadyPeft = "ztune's adapters are PEFT already (--to_peft DIR consolidates shards)";
const char* const kArgsJsonRead = "'ztune export' always reads the checkpoint's args.json";
const char* const kConfigJsonRead = "the model family comes from config.json";
const char* const kNoForwardPass = "export runs no forward pass";
const char* const kExportReadsNoData = "export reads no data, formats no chats and generates nothing";

const SwiftFlags kMultimodal = {{"max_pixels", kInt, "None"}, {"norm_bbox", kStr, "None"}};
const SwiftFlags kOtherTasks = {{"task_type", kStr, "None|causal_lm"}, {"num_labels", kInt, "None"},
    {"problem_type", kStr, "None"}, {"decision_drop_instructions", kFloat, "0.0"},
    {"decision_subsample_options", kInt, "0"}, {"decision_state_as_text", kFloat, "0.0"},
    {"decision_shuffle_fields", kBool, "false"}};
const SwiftFlags kModelLoading = {{"model_revision", kStr, "None"}, {"new_special_tokens", kList, ""},
    {"rope_scaling", kStr, "None"}, {"max_model_len", kInt, "None"}, {"local_repo_path", kStr, "None"},
    {"init_strategy", kStr, "None"}, {"model_kwargs", kStr, "None"}};
const SwiftFlags kPlacement = {{"device_map", kStr, "None"}, {"max_memory", kStr, "None"}};
const SwiftFlags kMoe = {{"experts_impl", kStr, "None"}};
const SwiftFlags kRay = {{"use_ray", kBool, "false"}, {"ray_exp_name", kStr, "None"},
    {"device_groups", kStr, "None"}};
const SwiftFlags kPlugins = {{"external_plugins", kList, ""}, {"custom_register_path", kList, ""}};
const SwiftFlags kNpu = {{"enable_npu_model_patch", kBool, "true"}};
const SwiftFlags kTemplate = {{"agent_template", kStr, "None"}, {"use_chat_template", kBool, "None|true"},
    {"padding_side", kStr, "right"}, {"is_binary_loss_scale", kBool, "None"},
    {"response_prefix", kStr, "None"}, {"enable_thinking", kBool, "None"}, {"preserve_thinking", kBool, "None"},
    {"add_non_thinking_prefix", kBool, "true"}, {"disable_ignore_empty_think", kBool, "false"}};
const SwiftFlags kSequenceParallel = {{"sequence_parallel_size", kInt, "1"}};
const SwiftFlags kDataSources = {{"cached_dataset", kList, ""}, {"cached_val_dataset", kList, ""},
    {"val_dataset_shuffle", kBool, "false"}, {"interleave_prob", kList, "None"},
    {"stopping_strategy", kStr, "first_exhausted"}, {"download_mode", kStr, "reuse_dataset_if_exists"},
    {"disable_auto_column_mapping", kBool, "false"}, {"custom_dataset_info", kList, ""},
    {"remove_unused_columns", kBool, "true"}};
const SwiftFlags kDataCache = {{"load_from_cache_file", kBool, "false"}};
const SwiftFlags kQuantize = {{"quant_method", kStr, "None"}, {"quant_bits", kStr, "None"},
    {"hqq_axis", kInt, "None"}, {"bnb_4bit_compute_dtype", kStr, "None"}, {"bnb_4bit_quant_type", kStr, "nf4"},
    {"bnb_4bit_use_double_quant", kBool, "true"}, {"bnb_4bit_quant_storage", kStr, "None"}};
const SwiftFlags kGeneration = {{"num_beams", kInt, "1"}, {"stop_words", kList, ""}, {"logprobs", kBool, "false"},
    {"top_logprobs", kInt, "None"}, {"structured_outputs_regex", kStr, "None"}};
const SwiftFlags kUnsloth = {{"tuner_backend", kStr, "peft"}};
const SwiftFlags kSwiftLora = {{"use_swift_lora", kBool, "false"}};
const SwiftFlags kLoadDataArgs = {{"load_data_args", kBool, "false"}};
const SwiftFlags kArgsError = {{"ignore_args_error", kBool, "false"}};
const SwiftFlags kDdpBackend = {{"ddp_backend", kStr, "None"}};
const SwiftFlags kWorkers = {{"packing_num_proc", kInt, "1"}};
const SwiftFlags kPackingStrategy = {{"packing_strategy", kStr, "binpack"}};
const SwiftFlags kSafetensors = {{"safe_serialization", kBool, "true"}};
const SwiftFlags kShardSize = {{"max_shard_size", kStr, "5GB"}};
const SwiftFlags kSftData = {{"dataset", kList, ""}, {"split_dataset_ratio", kFloat, "0.0"},
    {"data_seed", kInt, "42"}, {"dataset_shuffle", kBool, "true"}, {"streaming", kBool, "false"},
    {"shuffle_buffer_size", kInt, "1000"}, {"columns", kStr, "None"}, {"strict", kBool, "false"}};
const SwiftFlags kSftDataWorkers = {{"dataset_num_proc", kInt, "1"}};
const SwiftFlags kModelType = {{"model_type", kStr, "None"}};
const SwiftFlags kAttnImpl = {{"attn_impl", kStr, "None"}};
const SwiftFlags kChatEncoding = {{"truncation_strategy", kStr, "None"}, {"loss_scale", kStr, "default"},
    {"padding_free", kBool, "false"}, {"packing", kBool, "false"}, {"packing_length", kInt, "None"}};
const SwiftFlags kInferChat = {{"template", kStr, "None"}, {"system", kStr, "None"}, {"max_length", kInt, "None"},
    {"val_dataset", kList, ""}};
const SwiftFlags kSampling = {{"max_new_tokens", kInt, "None"}, {"temperature", kFloat, "None"},
    {"top_k", kInt, "None"}, {"top_p", kFloat, "None"}, {"repetition_penalty", kFloat, "None"},
    {"stream", kBool, "None"}};
const SwiftFlags kTunerType = {{"tuner_type", kStr, "lora"}};
const SwiftFlags kTimeout = {{"ddp_timeout", kInt, "18000000"}};
const SwiftFlags kSeed = {{"seed", kInt, "42"}};
const SwiftFlags kLoadArgs = {{"load_args", kBool, "false"}};
const SwiftFlags kExportLoadArgs = {{"load_args", kBool, "true"}};
const SwiftFlags kHubTokenInfer = {{"hub_token", kStr, "None", true}};
const SwiftFlags kOptimizer = {{"optim", kStr, "adamw_torch_fused|adamw_torch"}, {"optim_args", kStr, "None"},
    {"optim_target_modules", kList, "None"}, {"optimizer", kStr, "None"}, {"lr_scheduler_kwargs", kStr, "None"},
    {"label_smoothing_factor", kFloat, "0.0"}, {"neftune_noise_alpha", kFloat, "None"}, {"loss_type", kStr, "None"},
    {"enable_dft_loss", kBool, "false"}, {"enable_channel_loss", kBool, "false"}, {"acc_strategy", kStr, "token"},
    {"average_tokens_across_devices", kBool, "true"}, {"max_epochs", kInt, "None"},
    {"auto_find_batch_size", kBool, "false"}, {"tf32", kBool, "None|false"}};
const SwiftFlags kSpeedKnobs = {{"torch_compile", kBool, "false"}, {"torch_compile_backend", kStr, "None"},
    {"torch_compile_mode", kStr, "None"}, {"torch_empty_cache_steps", kInt, "None"}, {"use_cache", kBool, "false"},
    {"use_logits_to_keep", kBool, "None"}, {"gradient_checkpointing_kwargs", kStr, "None"},
    {"skip_memory_metrics", kBool, "true"}};
const SwiftFlags kLoaderKnobs = {{"dataloader_pin_memory", kBool, "true"},
    {"dataloader_persistent_workers", kBool, "true"}, {"dataloader_prefetch_factor", kInt, "None"},
    {"dataloader_multiprocessing_context", kStr, "None"}};
const SwiftFlags kLogLevel = {{"log_level", kStr, "passive"}, {"log_level_replica", kStr, "warning"}};
const SwiftFlags kLogRanks = {{"log_on_each_node", kBool, "true"}};
const SwiftFlags kProgress = {{"disable_tqdm", kBool, "None"}};
const SwiftFlags kTrackio = {{"project", kStr, "huggingface"}, {"trackio_space_id", kStr, "None"},
    {"trackio_bucket_id", kStr, "None"}, {"trackio_static_space_id", kStr, "None"}};
const SwiftFlags kLogging = {{"logging_strategy", kStr, "steps"}, {"logging_nan_inf_filter", kBool, "true"},
    {"include_num_input_tokens_seen", kStr, "no|false"}, {"logging_dir", kStr, "None"}, {"run_name", kStr, "None"}};
const SwiftFlags kEval = {{"eval_delay", kFloat, "0"}, {"prediction_loss_only", kBool, "false"},
    {"eval_on_start", kBool, "false"}, {"eval_do_concat_batches", kBool, "true"},
    {"eval_use_gather_object", kBool, "false"}, {"eval_accumulation_steps", kInt, "None"},
    {"include_for_metrics", kList, ""}, {"batch_eval_metrics", kBool, "false"}, {"bf16_full_eval", kBool, "false"},
    {"fp16_full_eval", kBool, "false"}, {"predict_with_generate", kBool, "false"},
    {"generation_max_length", kInt, "None"}, {"generation_num_beams", kInt, "None"},
    {"generation_config", kStr, "None"}, {"sortish_sampler", kBool, "false"}, {"eval_metric", kStr, "None"},
    {"greater_is_better", kBool, "None"}, {"early_stop_interval", kInt, "None"}};
const SwiftFlags kEvalscope = {{"eval_use_evalscope", kBool, "false"}, {"eval_dataset", kList, ""},
    {"eval_dataset_args", kStr, "None"}, {"eval_limit", kInt, "None"}, {"eval_generation_config", kStr, "None"},
    {"extra_eval_args", kStr, "None"}};
const SwiftFlags kSaving = {{"save_on_each_node", kBool, "false"}, {"enable_jit_checkpoint", kBool, "false"},
    {"restore_callback_states_from_checkpoint", kBool, "false"}, {"use_flash_ckpt", kBool, "false"},
    {"create_checkpoint_symlink", kBool, "false"}, {"hub_always_push", kBool, "false"},
    {"hub_revision", kStr, "None"}};
const SwiftFlags kHubStrategy = {{"hub_strategy", kStr, "end"}};
const SwiftFlags kCheckModel = {{"check_model", kBool, "true"}};
const SwiftFlags kDataOrder = {{"dataloader_drop_last", kBool, "false"}, {"dataloader_in_order", kBool, "true"},
    {"train_sampling_strategy", kStr, "random"}, {"group_by_length", kBool, "false"},
    {"train_dataloader_shuffle", kBool, "true"}, {"label_names", kList, "None"}};
const SwiftFlags kLengthColumn = {{"length_column_name", kStr, "length"}};
const SwiftFlags kDdpKnobs = {{"ddp_find_unused_parameters", kBool, "None"}, {"ddp_bucket_cap_mb", kInt, "None"},
    {"ddp_broadcast_buffers", kBool, "None"}, {"ddp_static_graph", kBool, "None"}};
const SwiftFlags kOtherParallel = {{"fsdp", kStr, "None"}, {"fsdp_config", kStr, "None"},
    {"accelerator_config", kStr, "None"}, {"parallelism_config", kStr, "None"},
    {"zero_hpz_partition_size", kInt, "None"}, {"deepspeed_autotp_size", kInt, "None"}};
const SwiftFlags kDevice = {{"use_cpu", kBool, "false"}};
const SwiftFlags kLocalRank = {{"local_rank", kInt, "-1"}};
const SwiftFlags kDeterminism = {{"full_determinism", kBool, "false"}, {"debug", kList, ""}};
const SwiftFlags kUnusedByTrainer = {{"do_train", kBool, "false"}, {"do_eval", kBool, "false"},
    {"do_predict", kBool, "false"}};
const SwiftFlags kNoGeneration = {{"ds3_gather_for_generation", kBool, "true"}};
const SwiftFlags kVisionTraining = {{"vit_gradient_checkpointing", kBool, "None"}, {"aligner_lr", kFloat, "None"},
    {"vit_lr", kFloat, "None"}, {"freeze_llm", kBool, "false"}, {"freeze_vit", kBool, "true"},
    {"freeze_aligner", kBool, "true"}};
const SwiftFlags kMoeTraining = {{"router_aux_loss_coef", kFloat, "0.0"}};
const SwiftFlags kEmbedding = {{"mrl_dims", kStr, "None"}};
const SwiftFlags kCallbacks = {{"callbacks", kList, ""}};
const SwiftFlags kTuners = {{"use_galore", kBool, "false"}, {"galore_target_modules", kList, "None"},
    {"galore_rank", kInt, "128"}, {"galore_update_proj_gap", kInt, "50"}, {"galore_scale", kFloat, "1.0"},
    {"galore_proj_type", kStr, "std"}, {"galore_optim_per_parameter", kBool, "false"},
    {"galore_with_embedding", kBool, "false"}, {"galore_quantization", kBool, "false"},
    {"galore_proj_quant", kBool, "false"}, {"galore_proj_bits", kInt, "4"}, {"galore_proj_group_size", kInt, "256"},
    {"galore_cos_threshold", kFloat, "0.4"}, {"galore_gamma_proj", kInt, "2"}, {"galore_queue_size", kInt, "5"},
    {"lisa_activated_layers", kInt, "0"}, {"lisa_step_interval", kInt, "20"}, {"use_liger_kernel", kBool, "false"},
    {"liger_kernel_config", kStr, "None"}, {"lora_dtype", kStr, "None"}, {"lorap_lr_ratio", kFloat, "None"},
    {"use_dora", kBool, "false"}, {"lora_ga_batch_size", kInt, "2"}, {"lora_ga_iters", kInt, "2"},
    {"lora_ga_max_length", kInt, "1024"}, {"lora_ga_direction", kStr, "ArB2r"}, {"lora_ga_scale", kStr, "stable"},
    {"lora_ga_stable_gamma", kInt, "16"}, {"init_weights", kStr, "true"}, {"fourier_n_frequency", kInt, "2000"},
    {"fourier_scaling", kFloat, "300.0"}, {"boft_block_size", kInt, "4"}, {"boft_block_num", kInt, "0"},
    {"boft_n_butterfly_factor", kInt, "1"}, {"boft_dropout", kFloat, "0.0"}, {"vera_rank", kInt, "256"},
    {"vera_projection_prng_key", kInt, "0"}, {"vera_dropout", kFloat, "0.0"}, {"vera_d_initial", kFloat, "0.1"},
    {"adapter_act", kStr, "gelu"}, {"adapter_length", kInt, "128"}, {"adalora_target_r", kInt, "8"},
    {"adalora_init_r", kInt, "12"}, {"adalora_tinit", kInt, "0"}, {"adalora_tfinal", kInt, "0"},
    {"adalora_deltaT", kInt, "1"}, {"adalora_beta1", kFloat, "0.85"}, {"adalora_beta2", kFloat, "0.85"},
    {"adalora_orth_reg_weight", kFloat, "0.5"}, {"llamapro_num_new_blocks", kInt, "4"},
    {"llamapro_num_groups", kInt, "None"}, {"reft_layer_key", kStr, "None"}, {"reft_layers", kList, "None"},
    {"reft_rank", kInt, "4"}, {"reft_intervention_type", kStr, "LoreftIntervention"}, {"reft_args", kStr, "None"}};
const SwiftFlags kFreezing = {{"freeze_parameters", kList, ""}, {"freeze_parameters_regex", kStr, "None"},
    {"freeze_parameters_ratio", kFloat, "0.0"}, {"trainable_parameters", kList, ""},
    {"trainable_parameters_regex", kStr, "None"}, {"target_regex", kStr, "None"},
    {"target_parameters", kList, "None"}};
const SwiftFlags kSwanlabNotify = {{"swanlab_notification_method", kStr, "None"},
    {"swanlab_webhook_url", kStr, "None", true}, {"swanlab_secret", kStr, "None", true},
    {"swanlab_sender_email", kStr, "None"}, {"swanlab_receiver_email", kStr, "None"},
    {"swanlab_smtp_server", kStr, "None"}, {"swanlab_smtp_port", kInt, "None"},
    {"swanlab_email_language", kStr, "zh"}};
const SwiftFlags kEngines = {{"vllm_gpu_memory_utilization", kFloat, "0.9"},
    {"vllm_tensor_parallel_size", kInt, "1"}, {"vllm_pipeline_parallel_size", kInt, "1"},
    {"vllm_enable_expert_parallel", kBool, "false"}, {"vllm_max_num_seqs", kInt, "256"},
    {"vllm_max_model_len", kInt, "None"}, {"vllm_disable_custom_all_reduce", kBool, "true"},
    {"vllm_enforce_eager", kBool, "false"}, {"vllm_limit_mm_per_prompt", kStr, "None"},
    {"vllm_max_lora_rank", kInt, "16"}, {"vllm_enable_prefix_caching", kBool, "None"},
    {"vllm_use_async_engine", kBool, "None"}, {"vllm_quantization", kStr, "None"},
    {"vllm_reasoning_parser", kStr, "None"}, {"vllm_disable_cascade_attn", kBool, "false"},
    {"vllm_mm_processor_cache_gb", kFloat, "None"}, {"vllm_speculative_config", kStr, "None"},
    {"vllm_engine_kwargs", kStr, "None"}, {"vllm_data_parallel_size", kInt, "1"}, {"sglang_tp_size", kInt, "1"},
    {"sglang_pp_size", kInt, "1"}, {"sglang_dp_size", kInt, "1"}, {"sglang_ep_size", kInt, "1"},
    {"sglang_enable_ep_moe", kBool, "false"}, {"sglang_mem_fraction_static", kFloat, "None"},
    {"sglang_context_length", kInt, "None"}, {"sglang_disable_cuda_graph", kBool, "false"},
    {"sglang_quantization", kStr, "None"}, {"sglang_kv_cache_dtype", kStr, "auto"},
    {"sglang_enable_dp_attention", kBool, "false"}, {"sglang_disable_custom_all_reduce", kBool, "true"},
    {"sglang_speculative_algorithm", kStr, "None"}, {"sglang_speculative_num_steps", kInt, "None"},
    {"sglang_speculative_eagle_topk", kInt, "None"}, {"sglang_speculative_num_draft_tokens", kInt, "None"},
    {"lmdeploy_tp", kInt, "1"}, {"lmdeploy_session_len", kInt, "None"},
    {"lmdeploy_cache_max_entry_count", kFloat, "0.8"}, {"lmdeploy_quant_policy", kInt, "0"},
    {"lmdeploy_vision_batch_size", kInt, "1"}};
const SwiftFlags kInferResults = {{"write_batch_size", kInt, "1000"}};
const SwiftFlags kInferMetrics = {{"metric", kStr, "None"}, {"val_dataset_sample", kInt, "None"}};
const SwiftFlags kReranker = {{"reranker_use_activation", kBool, "true"}};
const SwiftFlags kExportQuantize = {{"quant_n_samples", kInt, "256"}, {"quant_batch_size", kInt, "1"},
    {"group_size", kInt, "128"}};
const SwiftFlags kCachedDataset = {{"to_cached_dataset", kBool, "false"}, {"template_mode", kStr, "train"}};
const SwiftFlags kOllama = {{"to_ollama", kBool, "false"}};
const SwiftFlags kMcore = {{"to_mcore", kBool, "false"}, {"to_hf", kBool, "false"}, {"mcore_model", kStr, "None"},
    {"mcore_adapter", kStr, "None"}, {"thread_count", kInt, "None"}, {"test_convert_precision", kBool, "false"},
    {"test_convert_dtype", kStr, "float32"}, {"save_missing_weights", kBool, "false"}};
const SwiftFlags kPeftFormat = {{"to_peft_format", kBool, "false"}};

std::vector<std::string> split_choices(const std::string& text) {
  std::vector<std::string> values;
  size_t begin = 0;
  for (size_t bar = text.find('|'); bar != std::string::npos; bar = text.find('|', begin)) {
    values.push_back(text.substr(begin, bar - begin));
    begin = bar + 1;
  }
  values.push_back(text.substr(begin));
  return values;
}

// Flags the table binds are skipped: the lists follow ms-swift's classes, which the commands share.
void refuse(args::Table& table, const char* reason, const SwiftFlags& flags) {
  for (const SwiftFlag& flag : flags) {
    const args::Flag* bound = table.find(flag.name);
    if (bound != nullptr && !bound->unbound()) continue;
    args::Flag& known = table.known(flag.name, flag.kind, reason, split_choices(flag.accepted));
    if (flag.secret) known.hidden_value();
  }
}

void ignore(args::Table& table, const char* reason, const SwiftFlags& flags) {
  for (const SwiftFlag& flag : flags) {
    const args::Flag* bound = table.find(flag.name);
    if (bound != nullptr && !bound->unbound()) continue;
    args::Flag& known = table.ignored(flag.name, flag.kind, reason);
    if (flag.secret) known.hidden_value();
  }
}

// The tail every command shares: multimodal and other tasks, model loading, launching.
void add_shared_swift_flags(args::Table& t) {
  refuse(t, kTextOnly, kMultimodal);
  refuse(t, kCausalLmOnly, kOtherTasks);
  t.section("model loading");
  refuse(t, kNotYet, kModelLoading);
  refuse(t, kOneDevice, kPlacement);
  refuse(t, kNoMoe, kMoe);
  refuse(t, kNoPlugins, kPlugins);
  ignore(t, kNpuOnly, kNpu);
  t.section("launching");
  refuse(t, kNoRay, kRay);
  ignore(t, kBackendChosen, kDdpBackend);
  refuse(t, kAlwaysChecked, kArgsError);
}

void add_sft_swift_flags(args::Table& t) {
  t.section("training (transformers Trainer knobs)");
  refuse(t, kNotYet, kOptimizer);
  ignore(t, kSpeedKnob, kSpeedKnobs);
  ignore(t, kTrainingThread, kLoaderKnobs);
  ignore(t, kTrainingThread, kWorkers);
  refuse(t, kNotYet, kDataOrder);
  ignore(t, kGroupByLengthOnly, kLengthColumn);
  refuse(t, kBinpackOnly, kPackingStrategy);
  refuse(t, kNotYet, kDeterminism);
  ignore(t, kTrainerUnused, kUnusedByTrainer);
  ignore(t, kSftGeneratesNothing, kNoGeneration);
  ignore(t, kSftGeneratesNothing, kSampling);
  ignore(t, kSftGeneratesNothing, kGeneration);
  refuse(t, kNotYet, kLoadArgs);
  refuse(t, kNotYet, kLoadDataArgs);
  t.section("data and template");
  refuse(t, kNotYet, kDataSources);
  ignore(t, kNoCache, kDataCache);
  refuse(t, kNotYet, kTemplate);
  t.section("evaluation");
  refuse(t, kNotYet, kEval);
  refuse(t, kNoEvalscope, kEvalscope);
  t.section("logging");
  refuse(t, kNotYet, kLogging);
  ignore(t, kLogLevelEnv, kLogLevel);
  ignore(t, kLogRank0, kLogRanks);
  ignore(t, kNoProgressBar, kProgress);
  ignore(t, kNoTrackio, kTrackio);
  refuse(t, kNotYet, kSwanlabNotify);
  t.section("saving and hub");
  refuse(t, kNotYet, kSaving);
  refuse(t, kPushAtEnd, kHubStrategy);
  refuse(t, kAlwaysSafetensors, kSafetensors);
  refuse(t, kUnshardedCheckpoints, kShardSize);
  ignore(t, kModelCheck, kCheckModel);
  t.section("distributed");
  ignore(t, kOwnGradSync, kDdpKnobs);
  refuse(t, kUseZero, kOtherParallel);
  refuse(t, kNotYet, kSequenceParallel);
  refuse(t, kDevicePicked, kDevice);
  ignore(t, kLocalRankEnv, kLocalRank);
  t.section("tuners");
  refuse(t, kUnslothNotSupported, kUnsloth);
  refuse(t, kNotYet, kSwiftLora);
  refuse(t, kLoraOrFull, kTuners);
  refuse(t, kNotYet, kFreezing);
  refuse(t, kQuantizedTraining, kQuantize);
  t.section("multimodal and other tasks");
  refuse(t, kTextOnly, kVisionTraining);
  refuse(t, kNoMoe, kMoeTraining);
  refuse(t, kCausalLmOnly, kEmbedding);
  refuse(t, kNoPlugins, kCallbacks);
  add_shared_swift_flags(t);
}

void add_infer_swift_flags(args::Table& t) {
  t.section("inference engines");
  ignore(t, kEngineKnob, kEngines);
  t.section("inference");
  refuse(t, kNotYet, kGeneration);
  refuse(t, kNotYet, kInferMetrics);
  ignore(t, kResultsPerBatch, kInferResults);
  refuse(t, kNotYetInInfer, kModelType);
  refuse(t, kNotYetInInfer, kAttnImpl);
  refuse(t, kNotYetInInfer, kChatEncoding);
  refuse(t, kNotYet, kTemplate);
  refuse(t, kUseValDataset, kSftData);
  ignore(t, kNoPreprocessing, kSftDataWorkers);
  ignore(t, kNoPreprocessing, kWorkers);
  refuse(t, kNotYetInInfer, kPackingStrategy);
  refuse(t, kNotYet, kDataSources);
  ignore(t, kNoCache, kDataCache);
  refuse(t, kNotYet, kLoadDataArgs);
  ignore(t, kAdapterSaysType, kTunerType);
  refuse(t, kUnslothNotSupported, kUnsloth);
  refuse(t, kNotYet, kSwiftLora);
  refuse(t, kQuantizedModels, kQuantize);
  refuse(t, kNotYet, kSequenceParallel);
  ignore(t, kOneProcess, kTimeout);
  refuse(t, kCacheOnly, kHubTokenInfer);
  refuse(t, kAlwaysSafetensors, kSafetensors);
  refuse(t, kShardInExport, kShardSize);
  t.section("multimodal and other tasks");
  refuse(t, kCausalLmOnly, kReranker);
  add_shared_swift_flags(t);
}

void add_export_swift_flags(args::Table& t) {
  t.section("data");
  ignore(t, "export reads no data", {{"model_name", kList, ""}, {"model_author", kList, ""}, {"lazy_tokenize", kBool, "None"}});
  t.section("export formats");
  refuse(t, kQuantizedExport, kQuantize);
  refuse(t, kQuantizedExport, kExportQuantize);
  refuse(t, kNotYet, kOllama);
  refuse(t, kNoMcore, kMcore);
  refuse(t, kNoCachedDataset, kCachedDataset);
  refuse(t, kAlreadyPeft, kPeftFormat);
  refuse(t, kAlwaysSafetensors, kSafetensors);
  refuse(t, kArgsJsonRead, kExportLoadArgs);
  refuse(t, kConfigJsonRead, kModelType);
  ignore(t, kNoForwardPass, kAttnImpl);
  t.section("data, template and generation");
  ignore(t, kExportReadsNoData, kChatEncoding);
  ignore(t, kExportReadsNoData, kSftData);
  ignore(t, kExportReadsNoData, kSftDataWorkers);
  ignore(t, kExportReadsNoData, kWorkers);
  ignore(t, kExportReadsNoData, kPackingStrategy);
  ignore(t, kExportReadsNoData, kDataSources);
  ignore(t, kExportReadsNoData, kDataCache);
  ignore(t, kExportReadsNoData, kLoadDataArgs);
  ignore(t, kExportReadsNoData, kInferChat);
  ignore(t, kExportReadsNoData, kTemplate);
  ignore(t, kExportReadsNoData, SwiftFlags{{"template_backend", kStr, "swift"}});
  ignore(t, kExportReadsNoData, kSampling);
  ignore(t, kExportReadsNoData, kGeneration);
  ignore(t, kExportReadsNoData, kSeed);
  ignore(t, kAdapterSaysType, kTunerType);
  refuse(t, kUnslothNotSupported, kUnsloth);
  refuse(t, kNotYet, kSwiftLora);
  refuse(t, kNotYet, kSequenceParallel);
  ignore(t, kOneProcess, kTimeout);
  t.section("multimodal and other tasks");
  add_shared_swift_flags(t);
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
    t.add("split_dataset_ratio", &A::split_dataset_ratio, "fraction of the data held out for validation")
        .at_least(0).below(1);
    t.add("columns", &A::columns, "JSON map renaming dataset columns, applied first");
    t.add("strict", &A::strict, "true: a bad row is an error; false: skipped and counted");
    t.add("dataset_shuffle", &A::dataset_shuffle, "shuffle the training data");
    t.add("streaming", &A::streaming, "stream the data (needs --max_steps)");
    t.add("shuffle_buffer_size", &A::shuffle_buffer_size, "shuffle buffer for streaming").at_least(1);
    t.add("seed", &A::seed, "random seed (init, dropout)").at_least(0, "numpy and torch take seeds from 0");
    t.add("data_seed", &A::data_seed, "random seed of data order and splits")
        .at_least(0, "numpy and torch take seeds from 0");
    t.add("dataset_num_proc", &A::dataset_num_proc,
          "accepted for ms-swift command lines; ztune has no preprocessing pass (rows are encoded as they stream)")
              .at_least(1);
    t.add("dataloader_num_workers", &A::dataloader_num_workers,
          "accepted for ms-swift command lines; rows are prepared on the training thread").at_least(0);
    t.add("packing", &A::packing, "pack several samples into each row");
    t.add("packing_length", &A::packing_length, "tokens per packed row; default: max_length").at_least(1);
    t.add("lazy_tokenize", &A::lazy_tokenize,
          "accepted for ms-swift command lines; ztune always encodes rows as they stream (the same rows either way)");
    t.add("model_name", &A::model_name, "self-cognition: the model's name for {{NAME}} in the data ([zh] [en])");
    t.add("model_author", &A::model_author, "self-cognition: the author for {{AUTHOR}} in the data ([zh] [en])");
    t.add("padding_free", &A::padding_free,
          "concatenate a batch into one row without padding (ztune always does: rows are never padded)");

    t.section("tuner");
    t.add("train_type", &A::train_type, "what to train").alias("tuner_type").one_of({"lora", "full"});
    t.add("lora_rank", &A::lora_rank, "LoRA rank r").at_least(1, "PEFT refuses r <= 0");
    t.add("lora_alpha", &A::lora_alpha, "LoRA alpha; scaling = alpha / r").above(0, "scaling = alpha / r");
    t.add("lora_dropout", &A::lora_dropout, "dropout on the LoRA input")
        .at_least(0, "torch.nn.Dropout's rule").at_most(1);
    t.add("lora_bias", &A::lora_bias, "LoRA bias").one_of({"none"});
    t.add("use_rslora", &A::use_rslora, "rank-stabilised scaling alpha / sqrt(r)");
    t.add("target_modules", &A::target_modules, "modules given LoRA: all-linear, names, or a regex");
    t.add("modules_to_save", &A::modules_to_save, "modules trained in full beside LoRA (embed_tokens, lm_head)");
    t.add("adapters", &A::adapters, "continue training from this PEFT adapter (its r, alpha and targets are used)");

    t.section("schedule and optimiser");
    t.add("num_train_epochs", &A::num_train_epochs, "epochs").above(0);
    t.add("max_steps", &A::max_steps, "optimizer steps; -1: from epochs").at_least(1).or_value(-1);
    t.add("per_device_train_batch_size", &A::per_device_train_batch_size, "micro-batch per rank").at_least(1);
    t.add("per_device_eval_batch_size", &A::per_device_eval_batch_size, "eval batch per rank").at_least(1);
    t.add("gradient_accumulation_steps", &A::gradient_accumulation_steps,
          "micro-batches per step; default max(1, ceil(16 / batch / world))").at_least(1);
    t.add("learning_rate", &A::learning_rate, "peak learning rate; default 1e-4 (lora), 1e-5 (full)")
        .at_least(0, "torch.optim.AdamW's rule");
    t.add("lr_scheduler_type", &A::lr_scheduler_type, "learning-rate schedule")
        .one_of({"cosine", "linear", "constant", "constant_with_warmup"});
    t.add("warmup_ratio", &A::warmup_ratio, "warm-up as a fraction of steps")
        .at_least(0, "transformers' rule").at_most(1);
    t.add("warmup_steps", &A::warmup_steps, "warm-up steps (overrides warmup_ratio)").at_least(0);
    t.add("weight_decay", &A::weight_decay, "AdamW weight decay").at_least(0, "torch.optim.AdamW's rule");
    t.add("adam_beta1", &A::adam_beta1, "AdamW beta1").at_least(0, "torch.optim.AdamW's rule").below(1);
    t.add("adam_beta2", &A::adam_beta2, "AdamW beta2").at_least(0, "torch.optim.AdamW's rule").below(1);
    t.add("adam_epsilon", &A::adam_epsilon, "AdamW epsilon").at_least(0, "torch.optim.AdamW's rule");
    t.add("max_grad_norm", &A::max_grad_norm, "clip the global gradient norm to this")
        .at_least(0, "0 turns clipping off");
    t.add("gradient_checkpointing", &A::gradient_checkpointing, "recompute activations in backward");
    t.add("bf16", &A::bf16, "train in bfloat16 with fp32 master weights");
    t.add("fp16", &A::fp16, "train in float16 with loss scaling");
    t.add("deepspeed", &A::deepspeed, "ZeRO: zero0|zero1|zero2|zero3|PATH.json (DeepSpeed keys; offload is refused)");
    t.add("ddp_timeout", &A::ddp_timeout, "seconds a collective may take before the job ends, naming the rank")
        .at_least(1);

    t.section("saving, evaluation and logging");
    t.add("output_dir", &A::output_dir, "run folder parent; default output/<model name>");
    t.add("add_version", &A::add_version, "run folder output_dir/vN-<time>; false: output_dir itself");
    t.add("save_strategy", &A::save_strategy, "when to checkpoint (the last step is always saved)")
        .one_of({"steps", "epoch", "no"});
    t.add("save_steps", &A::save_steps, "checkpoint every N steps (the last step is always saved)").at_least(1);
    t.add("save_total_limit", &A::save_total_limit, "keep at most N checkpoints").at_least(1);
    t.add("save_only_model", &A::save_only_model, "save weights without optimizer state (resume needs --resume_only_model)");
    t.add("eval_strategy", &A::eval_strategy, "when to evaluate on the validation rows").one_of({"steps", "epoch", "no"});
    t.add("load_best_model_at_end", &A::load_best_model_at_end,
          "keep the best checkpoint (by --metric_for_best_model) whatever save_total_limit says; report and push it");
    t.add("metric_for_best_model", &A::metric_for_best_model, "loss or token_acc (eval_ prefix allowed); default loss")
        .one_of({"loss", "eval_loss", "token_acc", "eval_token_acc"});
    t.add("greater_is_better", &A::greater_is_better, "default: false for loss, true for token_acc");
    t.add("eval_steps", &A::eval_steps, "evaluate on the validation rows every N steps (and at the end); default: save_steps")
        .at_least(1);
    t.add("logging_steps", &A::logging_steps, "log every N steps").at_least(1);
    t.add("logging_first_step", &A::logging_first_step, "also log step 1");
    t.add("report_to", &A::report_to, "where metrics go: tensorboard (event files under runs/), swanlab (the SwanLab SDK, "
                                      "see --swanlab_*), none; all = tensorboard")
        .one_of({"tensorboard", "swanlab", "none", "all"});
    t.add("resume_from_checkpoint", &A::resume_from_checkpoint, "checkpoint folder to resume from");
    t.add("resume_only_model", &A::resume_only_model, "resume weights only (fresh optimizer and data)");
    t.add("ignore_data_skip", &A::ignore_data_skip, "on resume, start the data from the beginning");
    t.add("ignore_run_lock", &A::ignore_run_lock, "train in the run folder even if another ztune run holds it (its "
                                                  ".ztune-run.lock); for a holder that is gone without a trace (ztune)");
    t.add("dry_run", &A::dry_run, "print the memory, traffic and time estimate of this run (ztune estimate) and "
                                  "exit without loading weights or data (ztune)");

    t.section("SwanLab");
    t.add("swanlab_token", &A::swanlab_token, "API key (or env SWANLAB_API_KEY); never written anywhere").hidden_value();
    t.add("swanlab_project", &A::swanlab_project, "project");
    t.add("swanlab_workspace", &A::swanlab_workspace, "workspace");
    t.add("swanlab_exp_name", &A::swanlab_exp_name, "experiment name");
    t.add("swanlab_mode", &A::swanlab_mode, "cloud (upload), local (the local dashboard), offline (records for "
                                            "`swanlab sync`), disabled").one_of({"cloud", "local", "offline", "disabled"});

    t.section("hub");
    t.add("push_to_hub", &A::push_to_hub, "push the final adapter to the ModelScope hub");
    t.add("hub_model_id", &A::hub_model_id, "hub repository owner/name");
    t.add("hub_token", &A::hub_token, "hub token (or env MODELSCOPE_API_TOKEN)").hidden_value();
    t.add("hub_private_repo", &A::hub_private_repo, "create the repository private");
    add_sft_swift_flags(t);
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

