# Tests that run programs: the CLI, multi-rank behaviour, and the Python reference side.
set(WORK ${CMAKE_CURRENT_BINARY_DIR}/work)
# The SwanLab SDK's own venv (scripts/setup.sh; requirements-swanlab.txt).
set(SWANLAB_PYTHON ${CMAKE_SOURCE_DIR}/.venv-swanlab/bin/python)

# safetensors interop: Python writes references for the unit tests; Python reads what ztune writes.
add_test(NAME safetensors_python_writes_reference
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/safetensors_interop.py write-reference ${WORK}/safetensors)
set_tests_properties(safetensors_python_writes_reference PROPERTIES FIXTURES_SETUP unit_references)

# transformers + peft outputs (logits, loss, LoRA gradients) for the model parity tests.
add_test(NAME model_python_writes_reference
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/model_reference.py ${ZTUNE_FIXTURES_DIR} ${WORK}/model-reference)
set_tests_properties(model_python_writes_reference PROPERTIES FIXTURES_SETUP unit_references TIMEOUT 600)
add_test(NAME generation_python_writes_reference
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/generation_reference.py ${ZTUNE_FIXTURES_DIR} ${WORK}/generation-reference)
set_tests_properties(generation_python_writes_reference PROPERTIES FIXTURES_SETUP unit_references TIMEOUT 600)

add_executable(ztune_st_write_samples tools/st_write_samples.cpp)
target_link_libraries(ztune_st_write_samples PRIVATE ztune_lib)
target_precompile_headers(ztune_st_write_samples REUSE_FROM ztune_core)
add_test(NAME safetensors_ztune_writes_samples COMMAND ztune_st_write_samples ${WORK}/safetensors-cpp)
set_tests_properties(safetensors_ztune_writes_samples PROPERTIES FIXTURES_SETUP st_cpp_samples)
add_test(NAME safetensors_python_reads_ztune
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/safetensors_interop.py check-cpp ${WORK}/safetensors-cpp)
set_tests_properties(safetensors_python_reads_ztune PROPERTIES FIXTURES_REQUIRED st_cpp_samples)

# CLI contract.
add_test(NAME cli_help COMMAND ztune --help)
set_tests_properties(cli_help PROPERTIES PASS_REGULAR_EXPRESSION "sft.*infer.*export.*upload.*login")
add_test(NAME cli_sft_help COMMAND ztune sft --help)
set_tests_properties(cli_sft_help PROPERTIES PASS_REGULAR_EXPRESSION "--lora_rank INT[^\n]*default: 8")
foreach(command infer export upload login)
  add_test(NAME cli_${command}_help COMMAND ztune ${command} --help)
  set_tests_properties(cli_${command}_help PROPERTIES PASS_REGULAR_EXPRESSION "usage: ztune ${command}")
endforeach()
# `ztune sft --bogus 1` must exit non-zero and name --bogus: WILL_FAIL checks the status, the second test the text.
# Every field of ms-swift 4.6's sft/infer/export argument classes is a flag ztune implements or refuses with a reason.
add_test(NAME cli_every_ms_swift_flag_known
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_flag_coverage.py $<TARGET_FILE:ztune>)
set_tests_properties(cli_every_ms_swift_flag_known PROPERTIES TIMEOUT 300)
add_test(NAME cli_unknown_flag_fails COMMAND ztune sft --bogus 1)
set_tests_properties(cli_unknown_flag_fails PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_unknown_flag_named COMMAND ztune sft --bogus 1)
set_tests_properties(cli_unknown_flag_named PROPERTIES
  PASS_REGULAR_EXPRESSION "unknown flag --bogus for 'ztune sft'; the nearest valid flag is --")
add_test(NAME cli_estimate_bad_value_named COMMAND ztune estimate --model m --nnodes two)
set_tests_properties(cli_estimate_bad_value_named PROPERTIES PASS_REGULAR_EXPRESSION "--nnodes 'two' is not a number")
add_test(NAME cli_estimate_unknown_flag_named COMMAND ztune estimate --model m --bogus 1)
set_tests_properties(cli_estimate_unknown_flag_named PROPERTIES PASS_REGULAR_EXPRESSION "unknown flag --bogus")
add_test(NAME cli_bad_value_named COMMAND ztune sft --lora_rank eight)
set_tests_properties(cli_bad_value_named PROPERTIES PASS_REGULAR_EXPRESSION "--lora_rank expects an integer, got 'eight'")
add_test(NAME cli_deepspeed_offload_refused COMMAND ztune sft --model m --dataset d.jsonl --deepspeed zero3_offload)
set_tests_properties(cli_deepspeed_offload_refused PROPERTIES PASS_REGULAR_EXPRESSION "CPU offload is not supported by ztune")
add_test(NAME cli_deepspeed_bad_file_named COMMAND ztune sft --model m --dataset d.jsonl --deepspeed /nonexistent/ds.json)
set_tests_properties(cli_deepspeed_bad_file_named PROPERTIES PASS_REGULAR_EXPRESSION "/nonexistent/ds.json: cannot open")
add_test(NAME cli_deepspeed_preset_accepted
         COMMAND ztune sft --model ${ZTUNE_FIXTURES_DIR}/qwen2 --dataset d.jsonl --deepspeed zero3)
# The preset is accepted; the run then stops at the missing dataset, naming it.
set_tests_properties(cli_deepspeed_preset_accepted PROPERTIES PASS_REGULAR_EXPRESSION "d.jsonl: dataset file not found")
add_test(NAME cli_env COMMAND ztune env)
set_tests_properties(cli_env PROPERTIES PASS_REGULAR_EXPRESSION "libtorch +2\\.11\\.0")

# A failed check on one rank takes the whole MPI job down, naming the rank, instead of hanging.
find_program(MPIRUN mpirun REQUIRED)
add_test(NAME mpi_failed_check_aborts_job
         COMMAND ${CMAKE_SOURCE_DIR}/tests/expect_failure.sh 60 "rank 1 on .* check failed"
                 ${MPIRUN} --oversubscribe --allow-run-as-root -np 2 $<TARGET_FILE:ztune_abort_probe>)

# Without MPI (torchrun, srun without PMI, RANK/WORLD_SIZE/MASTER_ADDR by hand) the ranks meet through the
# rendezvous store that rank 0 serves: every collective and the control plane under tests/run_ranks.py and
# under torchrun (whose agent serves the store), and a failed check on one rank ends the others, named.
set(RUN_RANKS ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/run_ranks.py)
foreach(ranks 2 3)
  add_test(NAME store_collectives_${ranks} COMMAND ${RUN_RANKS} ${ranks} -- $<TARGET_FILE:ztune_comm_probe>)
  set_tests_properties(store_collectives_${ranks} PROPERTIES PASS_REGULAR_EXPRESSION "ok: ${ranks} ranks \\(store on cpu\\)")
endforeach()
get_filename_component(ZTUNE_VENV_BIN ${ZTUNE_PYTHON} DIRECTORY)
add_test(NAME torchrun_collectives_3
         COMMAND ${ZTUNE_VENV_BIN}/torchrun --nproc_per_node 3 --master_port 29517 --no-python $<TARGET_FILE:ztune_comm_probe>)
set_tests_properties(torchrun_collectives_3 PROPERTIES PASS_REGULAR_EXPRESSION "ok: 3 ranks \\(store on cpu\\)")
# The host-staged communicator (several ranks on one GPU) wraps the store or MPI; here on CPU tensors.
add_test(NAME staged_collectives_3
         COMMAND ${CMAKE_COMMAND} -E env ZTUNE_SHARED_GPU=1 ${RUN_RANKS} 3 -- $<TARGET_FILE:ztune_comm_probe>)
set_tests_properties(staged_collectives_3 PROPERTIES PASS_REGULAR_EXPRESSION "ok: 3 ranks \\(staged\\(store\\) on cpu\\)")
add_test(NAME staged_zero_equivalence_2
         COMMAND ${CMAKE_COMMAND} -E env ZTUNE_SHARED_GPU=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
                 ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_zero.py $<TARGET_FILE:ztune_zero_train>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${WORK}/zero-staged-2 2 --stages 2 3)
add_test(NAME store_failed_check_ends_job
         COMMAND ${CMAKE_SOURCE_DIR}/tests/expect_failure.sh 30 "rank 0: another rank failed"
                 ${RUN_RANKS} 2 -- $<TARGET_FILE:ztune_abort_probe>)

# The fixture generator gives the same bytes twice.
add_test(NAME fixtures_deterministic
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_fixtures_deterministic.py ${ZTUNE_FIXTURES_DIR})
set_tests_properties(fixtures_deterministic PROPERTIES TIMEOUT 600)

# Fixtures load in transformers and tokenizers exactly as generated.
add_test(NAME fixtures_load_in_transformers
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_fixtures_load.py ${ZTUNE_FIXTURES_DIR})

add_executable(ztune_tokenize_corpus tools/tokenize_corpus.cpp)
target_link_libraries(ztune_tokenize_corpus PRIVATE ztune_lib)
target_precompile_headers(ztune_tokenize_corpus REUSE_FROM ztune_core)

add_executable(ztune_encode_dataset tools/encode_dataset.cpp)
target_link_libraries(ztune_encode_dataset PRIVATE ztune_lib)
target_precompile_headers(ztune_encode_dataset REUSE_FROM ztune_core)

add_executable(ztune_shard_probe tools/shard_probe.cpp)
target_link_libraries(ztune_shard_probe PRIVATE ztune_lib)
target_precompile_headers(ztune_shard_probe REUSE_FROM ztune_core)

# ---- data pipeline (issue 3) ----
set(SAMPLE ${CMAKE_SOURCE_DIR}/data/sample)
# Token ids and decodes equal HF tokenizers on >= 5,000 varied strings, for each tokenizer family.
foreach(tok tokenizer-qwen tokenizer-llama3 tokenizer-qwen-real)
  add_test(NAME token_parity_${tok}
           COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/token_parity.py $<TARGET_FILE:ztune_tokenize_corpus>
                   ${ZTUNE_FIXTURES_DIR}/${tok}/tokenizer.json ${WORK}/token-parity-${tok} --sample-dir ${SAMPLE})
endforeach()
# Folders as transformers 5 saves them ("" subword prefixes, chat_template.jinja) and a byte-level
# vocabulary missing 21 byte tokens: tokens equal HF's, and training on the re-saved folder equals the original.
add_test(NAME tokenizer_shapes_as_shipped
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_hf_saved_folder.py $<TARGET_FILE:ztune>
                 $<TARGET_FILE:ztune_tokenize_corpus> ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl
                 ${WORK}/tokenizer-shapes)
set_tests_properties(tokenizer_shapes_as_shipped PROPERTIES TIMEOUT 900)
# Every tokenizer.json shape ztune reads (SentencePiece-style byte fallback, Metaspace, Digits, Split behaviours,
# normalizers, decoders), built with the tokenizers library: ids and decodes equal HF's; model folders of the
# classes transformers 5 rebuilds (LlamaTokenizer, GPT2Tokenizer) equal AutoTokenizer's.
add_test(NAME tokenizer_shapes_built_by_hf
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_tokenizer_shapes.py
                 $<TARGET_FILE:ztune_tokenize_corpus> ${WORK}/tokenizer-shapes-hf --sample-dir ${SAMPLE})
set_tests_properties(tokenizer_shapes_built_by_hf PROPERTIES TIMEOUT 1200)
# ids and labels equal ms-swift's template encoding row by row, every format, template and loss scale;
# packed rows are exact concatenations.
add_test(NAME encoding_parity_qwen
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/encoding_parity.py $<TARGET_FILE:ztune_encode_dataset>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 qwen2 ${WORK}/encoding-qwen
                 ${SAMPLE}/sharegpt_seed.jsonl ${SAMPLE}/messages.jsonl ${SAMPLE}/sharegpt_from_value.jsonl
                 ${SAMPLE}/alpaca.jsonl ${SAMPLE}/query_response.jsonl --templates qwen2_5 qwen default)
add_test(NAME encoding_parity_llama3
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/encoding_parity.py $<TARGET_FILE:ztune_encode_dataset>
                 ${ZTUNE_FIXTURES_DIR}/llama llama ${WORK}/encoding-llama3
                 ${SAMPLE}/sharegpt_seed.jsonl ${SAMPLE}/query_response.jsonl --templates llama3)
set_tests_properties(encoding_parity_qwen encoding_parity_llama3 PROPERTIES TIMEOUT 900)
# qwen3 (thinking/no-thinking), chatml, llama (Llama-2 on a SentencePiece-style tokenizer), deepseek_r1, llama3_2
# and default with auto-added bos: ids and labels equal ms-swift 4.6's, every loss scale, on conversations with
# think blocks and on tokenizers carrying each template's special tokens.
add_test(NAME encoding_parity_templates
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_templates.py $<TARGET_FILE:ztune_encode_dataset>
                 ${ZTUNE_FIXTURES_DIR} ${SAMPLE} ${WORK}/encoding-templates)
set_tests_properties(encoding_parity_templates PROPERTIES TIMEOUT 1500)
# Any folder's own chat template (issue 29): 60 real templates from model repos (tests/fixtures/chat_templates)
# render the sample data to the same text as transformers' apply_chat_template, with the same token ids, and label
# the same tokens as transformers' assistant masks ({% generation %} templates, what TRL trains on) or TRL-style
# prefix diffs; 2- and 8-turn conversations, with and without system, tools and the generation prompt.
add_executable(ztune_render_chat tools/render_chat.cpp)
target_link_libraries(ztune_render_chat PRIVATE ztune_lib)
target_precompile_headers(ztune_render_chat REUSE_FROM ztune_core)
add_test(NAME jinja_templates_match_transformers
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_jinja_templates.py $<TARGET_FILE:ztune_render_chat>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${CMAKE_SOURCE_DIR}/tests/fixtures/chat_templates ${SAMPLE}
                 ${WORK}/jinja-templates)
set_tests_properties(jinja_templates_match_transformers PROPERTIES TIMEOUT 900)
# A Llama folder with Mistral v0.2's template under a neutral name trains, infers and exports with that template;
# swift infer --template_backend jinja on the checkpoint and transformers on the merged folder reply the same.
add_test(NAME jinja_template_folder_trains
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_jinja_folder.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/llama ${CMAKE_SOURCE_DIR}/tests/fixtures/chat_templates/mistralai--Mistral-7B-Instruct-v0.2.jinja
                 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/jinja-folder)
set_tests_properties(jinja_template_folder_trains PROPERTIES TIMEOUT 900)
# A llama.cpp GGUF (llama, qwen2; F32..Q8_0/Q4_x/Q5_x and K-quants) imported as a Hugging Face folder: every
# tensor equals the gguf package's dequantisation, transformers loads it with the same logits and greedy tokens,
# the tokenizer encodes as the original; broken files are named errors.
add_test(NAME export_from_gguf
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_gguf_import.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR} ${WORK}/gguf)
set_tests_properties(export_from_gguf PROPERTIES TIMEOUT 600)
# A SentencePiece GGUF (tokenizer.ggml.model "llama": Llama-2, Mistral, TinyLlama) made with sentencepiece and gguf as
# llama.cpp's converter writes it: tensors exact, tokenizer.json as transformers reads the GGUF, ztune's ids equal its.
add_test(NAME export_from_gguf_sentencepiece
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_gguf_spm.py $<TARGET_FILE:ztune>
                 $<TARGET_FILE:ztune_tokenize_corpus> ${ZTUNE_FIXTURES_DIR} ${WORK}/gguf-spm ${SAMPLE})
set_tests_properties(export_from_gguf_sentencepiece PROPERTIES TIMEOUT 600)
# Hugging Face folders (llama, qwen2) and a merged LoRA checkpoint written as GGUF f16/bf16/q8_0: every metadata key
# and tensor as llama.cpp's converter writes them (gguf package's reader), the --from_gguf round trip, and llama.cpp
# (llama-cpp-python) tokenizing, scoring and generating greedily as transformers does.
add_test(NAME export_to_gguf
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_gguf_export.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR} ${WORK}/gguf-out ${SAMPLE}/sharegpt_seed.jsonl)
set_tests_properties(export_to_gguf PROPERTIES TIMEOUT 600)
# Mixture-of-experts folders (Qwen3-MoE, Qwen2-MoE with experts in every layer, saved by transformers; one with the
# experts fused; a merged LoRA checkpoint adapting the experts) written as llama.cpp's qwen3moe / qwen2moe: the
# metadata and stacked expert tensors as convert_hf_to_gguf.py writes them, llama.cpp's logits and greedy tokens
# against transformers', and clear errors for what the architectures cannot express.
add_test(NAME export_to_gguf_moe
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_gguf_moe.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR} ${WORK}/gguf-moe ${SAMPLE}/sharegpt_seed.jsonl)
set_tests_properties(export_to_gguf_moe PROPERTIES TIMEOUT 600)
# --add_version false, --save_strategy/--eval_strategy epoch and no, --load_best_model_at_end with
# --metric_for_best_model eval_token_acc and --save_total_limit 1.
add_test(NAME sft_strategies_and_best_model
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_sft_strategies.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/sft-strategies)
set_tests_properties(sft_strategies_and_best_model PROPERTIES TIMEOUT 900)
# Under mpirun, 1-4 ranks: every row once per epoch, no byte read by two ranks.
foreach(ranks 1 2 3 4)
  add_test(NAME mpi_data_shards_${ranks}
           COMMAND ${CMAKE_COMMAND} -E env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
                   sh -c "rm -rf ${WORK}/shards-${ranks} && mkdir -p ${WORK}/shards-${ranks} && ${MPIRUN} --oversubscribe -np ${ranks} $<TARGET_FILE:ztune_shard_probe> ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/shards-${ranks} 4096 && ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_shards.py ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/shards-${ranks} ${ranks}")
endforeach()

# Mixture-of-experts models end to end: sft, infer against transformers + peft, a merged export transformers loads,
# and ms-swift's expert adapters in ztune infer (tests/python/check_moe.py).
add_test(NAME sft_moe_end_to_end
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_moe.py $<TARGET_FILE:ztune> ${ZTUNE_FIXTURES_DIR}
                 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/moe)
set_tests_properties(sft_moe_end_to_end PROPERTIES TIMEOUT 1200)
# Expert parallelism in sft: EP 2 on 2 and 4 ranks (ZeRO-2 and 3) equals data parallelism, resumes with EP 1,
# refuses bad values by name (tests/python/check_expert_parallel.py).
add_test(NAME sft_expert_parallel
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_expert_parallel.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR} ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/expert-parallel)
set_tests_properties(sft_expert_parallel PROPERTIES TIMEOUT 1200)

# ZeRO stages 0-3 under mpirun with 1-4 ranks equal one process (losses, weights, optimizer partitions,
# communication bytes); a rank killed mid-step ends the job, named, within 60 s.
add_executable(ztune_zero_train tools/zero_train.cpp)
target_link_libraries(ztune_zero_train PRIVATE ztune_lib)
target_precompile_headers(ztune_zero_train REUSE_FROM ztune_core)
foreach(ranks 1 2 3 4)
  add_test(NAME zero_equivalence_${ranks}
           COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_zero.py $<TARGET_FILE:ztune_zero_train>
                   ${ZTUNE_FIXTURES_DIR}/qwen2 ${WORK}/zero-${ranks} ${ranks})
  set_tests_properties(zero_equivalence_${ranks} PROPERTIES TIMEOUT 1200)
endforeach()
# The same on the mixture-of-experts fixtures (load-balancing loss on): stacked experts stored per expert are
# partitioned in stage 3 as one slot each, filled from their pieces. And on the hybrid Qwen3.5 fixtures (Gated
# DeltaNet's conv, A_log and dt_bias partitioned like any other weight).
foreach(moe qwen3-moe qwen2-moe qwen3.5 qwen3.5-moe)
  add_test(NAME zero_equivalence_${moe}_2
           COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_zero.py $<TARGET_FILE:ztune_zero_train>
                   ${ZTUNE_FIXTURES_DIR}/${moe} ${WORK}/zero-${moe}-2 2)
  set_tests_properties(zero_equivalence_${moe}_2 PROPERTIES TIMEOUT 1200)
endforeach()
# The three cluster tests hold one lock (never two at once) but not the machine: most of their time is waiting
# (Slurm's scheduling, a downed link's timeout, downloads), which the other tests fill.
# Across two "nodes" (network + UTS namespaces on a private bridge; needs root): launch/mpirun/ztune-mpirun, node
# indices in `ztune env`, ZeRO-2/3 over 2 nodes x 2 ranks equal one process, a killed rank and a downed link end the
# job within 60 s naming the node.
add_test(NAME cluster_mpirun_two_nodes
         COMMAND ${CMAKE_SOURCE_DIR}/tests/cluster/check_mpirun_nodes.sh $<TARGET_FILE:ztune> $<TARGET_FILE:ztune_zero_train>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/cluster-mpirun ${ZTUNE_PYTHON}
                 $<TARGET_FILE:ztune_expert_parallel_probe>)
set_tests_properties(cluster_mpirun_two_nodes PROPERTIES TIMEOUT 600 RESOURCE_LOCK cluster_nodes)
# A two-node Slurm cluster (munge, slurmctld, slurmd in namespaces; root): launch/slurm/sft.sbatch as written, the
# job signalled mid-run requeues itself and resumes to the same adapter bit for bit; srun and mpirun node indices.
add_test(NAME cluster_slurm_two_nodes
         COMMAND ${CMAKE_SOURCE_DIR}/tests/cluster/check_slurm.sh $<TARGET_FILE:ztune> ${ZTUNE_FIXTURES_DIR}/qwen2
                 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/cluster-slurm)
set_tests_properties(cluster_slurm_two_nodes PROPERTIES TIMEOUT 900 RESOURCE_LOCK cluster_nodes)
# docker/Dockerfile.cpu built by a private dockerd from a debootstrapped bookworm (root): ztune sft in a container
# trains as on the host, and ZeRO-2/3 over two containers x 2 ranks (ssh on a private bridge) as 4 ranks on the host.
add_test(NAME cluster_containers
         COMMAND ${CMAKE_SOURCE_DIR}/tests/cluster/check_containers.sh $<TARGET_FILE:ztune> ${ZTUNE_FIXTURES_DIR}/qwen2
                 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/cluster-containers ${CMAKE_BINARY_DIR}/docker-cache ${ZTUNE_PYTHON})
set_tests_properties(cluster_containers PROPERTIES TIMEOUT 2400 RESOURCE_LOCK cluster_nodes)
# The same without MPI: 3 ranks over the rendezvous store (run_ranks.py), 2 under torchrun.
add_test(NAME zero_equivalence_store_3
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_zero.py $<TARGET_FILE:ztune_zero_train>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${WORK}/zero-store-3 3 --launcher env)
add_test(NAME zero_equivalence_torchrun_2
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_zero.py $<TARGET_FILE:ztune_zero_train>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${WORK}/zero-torchrun-2 2 --launcher torchrun --stages 2 3)
# Training every weight under mpirun: stages 0 and 2 equal one process, and stage 2 peaks below stage 0
# (gradients freed as their buckets are reduced).
add_test(NAME zero_full_training_memory_2
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_zero.py $<TARGET_FILE:ztune_zero_train>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${WORK}/zero-full-2 2 --full --stages 0 2 --steps 6)
add_test(NAME zero_killed_rank_ends_job
         COMMAND ${CMAKE_COMMAND} -E env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
                 ${CMAKE_SOURCE_DIR}/tests/expect_failure.sh 60 "rank 1 .*(exited on signal 9|Killed)"
                 ${MPIRUN} --oversubscribe -np 3 $<TARGET_FILE:ztune_zero_train> ${ZTUNE_FIXTURES_DIR}/qwen2
                 ${WORK} 2 5 6 1 2)
# Expert parallelism equals data parallelism on the same ranks (one forward and backward, load-balancing loss on):
# EP 2 on 2 and on 4 ranks under mpirun, EP 2 on 2 ranks over the rendezvous store.
add_executable(ztune_expert_parallel_probe tools/expert_parallel_probe.cpp)
target_link_libraries(ztune_expert_parallel_probe PRIVATE ztune_lib)
target_precompile_headers(ztune_expert_parallel_probe REUSE_FROM ztune_core)
foreach(ranks 2 4)
  add_test(NAME mpi_expert_parallel_2_on_${ranks}
           COMMAND ${CMAKE_COMMAND} -E env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
                   ${MPIRUN} --oversubscribe -np ${ranks} $<TARGET_FILE:ztune_expert_parallel_probe>
                   ${ZTUNE_FIXTURES_DIR}/qwen3-moe 2)
  set_tests_properties(mpi_expert_parallel_2_on_${ranks} PROPERTIES PASS_REGULAR_EXPRESSION "ok: expert parallelism")
endforeach()
add_test(NAME store_expert_parallel_2_on_2
         COMMAND ${RUN_RANKS} 2 -- $<TARGET_FILE:ztune_expert_parallel_probe> ${ZTUNE_FIXTURES_DIR}/qwen2-moe 2)
set_tests_properties(store_expert_parallel_2_on_2 PROPERTIES PASS_REGULAR_EXPRESSION "ok: expert parallelism")
add_executable(ztune_comm_probe tools/comm_probe.cpp)
target_link_libraries(ztune_comm_probe PRIVATE ztune_lib)
target_precompile_headers(ztune_comm_probe REUSE_FROM ztune_core)
foreach(ranks 1 2 3 4)
  add_test(NAME mpi_collectives_${ranks}
           COMMAND ${CMAKE_COMMAND} -E env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
                   ${MPIRUN} --oversubscribe -np ${ranks} $<TARGET_FILE:ztune_comm_probe>)
endforeach()

# Learning-rate schedules equal transformers.get_scheduler.
add_executable(ztune_lr_schedule tools/lr_schedule.cpp)
target_link_libraries(ztune_lr_schedule PRIVATE ztune_lib)
target_precompile_headers(ztune_lr_schedule REUSE_FROM ztune_core)
add_test(NAME lr_schedule_matches_transformers
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_schedule.py $<TARGET_FILE:ztune_lr_schedule>)

# `ztune sft` end to end: one process, and two ranks with zero2 and zero3.
add_test(NAME sft_end_to_end
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_sft.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/sft)
set_tests_properties(sft_end_to_end PROPERTIES TIMEOUT 900)
# sft under torchrun and bare RANK/WORLD_SIZE equals sft under mpirun; a killed rank ends the job by itself.
add_test(NAME sft_without_mpi
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_sft_launchers.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/sft-launchers)
set_tests_properties(sft_without_mpi PROPERTIES TIMEOUT 600)
# fp16 with loss scaling: the first step is not skipped.
add_test(NAME sft_fp16_first_step
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_fp16.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/sft-fp16)
# Resume equals an uninterrupted run (bitwise), and another world size and stage can take a checkpoint over.
add_test(NAME sft_resume_equals_uninterrupted
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_resume.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/resume)
set_tests_properties(sft_resume_equals_uninterrupted PROPERTIES TIMEOUT 900)
# Loss-curve parity with a transformers + peft training loop (30 steps, fp32, same data order).
add_test(NAME sft_loss_parity
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_loss_parity.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/loss-parity)
# SIGTERM / SIGUSR1: checkpoint at the next step boundary and a clean exit, on one and two ranks.
add_test(NAME sft_preemption
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_preemption.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/preemption)
# kill -9 at random points around saves: earlier checkpoints stay whole; a corrupted shard is named.
add_test(NAME sft_crash_during_save
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_crash_during_save.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/crash-during-save 12)
# Tokens given as flags, in a config file or in the environment appear in no output file or log.
add_test(NAME sft_secrets_never_written
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_secrets.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/secrets ${SWANLAB_PYTHON})
# --report_to swanlab: offline and local records read back with SwanLab's SDK, cloud mode against a stand-in
# service on 127.0.0.1 (a wrong key, a service that stops answering), no SDK; the key on no command line.
add_test(NAME sft_report_to_swanlab
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_swanlab.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/swanlab ${SWANLAB_PYTHON})
# ztune estimate (issue 17): one step of a grid of runs (1-4 ranks, stages 0-3, LoRA and full, checkpointing on
# and off, fp32 and bf16, the fixture and a larger random Qwen2): model states and bytes sent equal the estimate,
# peaks within 10%; `ztune estimate` and `sft --dry_run` print the same peak.
add_test(NAME estimate_against_measured
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_estimate.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/estimate)
set_tests_properties(estimate_against_measured PROPERTIES TIMEOUT 900)
# ms-swift's tools on ztune's checkpoints and ztune's on ms-swift's (issue 18): args.json with every key ms-swift
# writes, swift infer/export on a ztune checkpoint and ztune infer/export on a swift sft checkpoint agree.
add_test(NAME swift_interchange
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_swift_interchange.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/swift-interchange)
set_tests_properties(swift_interchange PROPERTIES TIMEOUT 1500)
# --train_type full: whole-model checkpoints that transformers loads.
add_test(NAME sft_full_training
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_full.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/full)
set_tests_properties(sft_loss_parity sft_preemption sft_crash_during_save sft_secrets_never_written sft_full_training
                     PROPERTIES TIMEOUT 900)
# Hub ids of models and datasets resolve from the ModelScope (or, with --use_hf, Hugging Face) cache.
add_test(NAME sft_hub_ids_from_cache
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_hub_cache.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/hub-cache)
set_tests_properties(sft_hub_ids_from_cache PROPERTIES TIMEOUT 600)
# Hub ids that are not cached download (ModelScope, Hugging Face) from the local stand-in hub: resumed, verified,
# once per node, private with a token, offline refused.
add_test(NAME sft_hub_ids_download
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_hub_download.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/hub-download)
set_tests_properties(sft_hub_ids_download PROPERTIES TIMEOUT 900)
add_test(NAME cli_streaming_needs_max_steps
         COMMAND ztune sft --model ${ZTUNE_FIXTURES_DIR}/qwen2 --dataset ${SAMPLE}/sharegpt_seed.jsonl --streaming true)
set_tests_properties(cli_streaming_needs_max_steps PROPERTIES PASS_REGULAR_EXPRESSION "--streaming true needs --max_steps")
# ztune export: consolidation for world sizes 1-4 x ZeRO 0-3, merge (one file and sharded) against peft.
add_test(NAME export_consolidate_and_merge
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_export.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/export)
# ztune infer: greedy batch inference equals transformers generate; the chat through a pseudo-terminal.
add_test(NAME infer_batch_and_chat
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_infer.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/infer)
# --infer_backend vllm: the hand-off (engine arguments, prompt ids, sampling, LoRA) checked on a stand-in with vLLM's
# API (vLLM needs a GPU), replies equal to ztune's engine; without vLLM one line and ztune's engine.
add_test(NAME infer_vllm_hand_off
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_infer_vllm.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/infer-vllm)
set_tests_properties(infer_vllm_hand_off PROPERTIES TIMEOUT 600)
# The hub client against a local server following the ModelScope protocol.
add_test(NAME hub_upload_and_push
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_hub.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/hub)
set_tests_properties(export_consolidate_and_merge infer_batch_and_chat hub_upload_and_push PROPERTIES TIMEOUT 900)

# README.md's commands, as written, from a fresh clone after set-up: the main job (scripts/demo.sh) and every block.
add_test(NAME readme_commands_as_written
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_readme_commands.py ${CMAKE_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR} ${WORK}/readme)
set_tests_properties(readme_commands_as_written PROPERTIES TIMEOUT 1500)

# The layers of src/ include only downward (the table in CMakeLists.txt).
add_test(NAME layers_include_only_downward COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/check_layers.py ${CMAKE_SOURCE_DIR})
set_tests_properties(layers_include_only_downward PROPERTIES LABELS unit)

# Environment failures end with one line naming the path and exit 1 (or 2 for bad input), never the bug
# banner; a save that meets a full disk leaves the earlier checkpoint whole and named by `latest`.
add_test(NAME env_failures_named
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_env_failures.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR} ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/env-failures)
set_tests_properties(env_failures_named PROPERTIES TIMEOUT 900)
# One rank's failure ends the whole job within seconds with its error printed once (issue 27): a bad row, a corrupt
# shard, a full disk on one rank, an injected failure at every control-plane operation of start-up and of a save, a
# rank that hangs; 2 and 3 ranks, under mpirun and without MPI.
add_test(NAME sft_rank_failure_ends_job
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_rank_failures.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/rank-failures)
set_tests_properties(sft_rank_failure_ends_job PROPERTIES TIMEOUT 900)
# The run folder around failures: resume from a run folder (its latest, or the newest checkpoint) and `true`, an
# unfinished save refused, leftovers removed at start-up, one run per folder (lock, stale lock, --ignore_run_lock),
# an unreachable hub exits 1.
add_test(NAME sft_run_folder_protocol
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_run_folder.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/run-folder)
set_tests_properties(sft_run_folder_protocol PROPERTIES TIMEOUT 600)
# The live progress line on a terminal (a pseudo-terminal), plain lines under Slurm and into a pipe (issue 28).
add_test(NAME sft_progress_line
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_progress_line.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/progress-line)
# Every numeric flag of sft, infer and estimate at 0, negative, NaN, infinity and overflow: exit 0 or 2, no crash.
add_test(NAME cli_numeric_flags_range_checked
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_numeric_flags.py $<TARGET_FILE:ztune>
                 ${ZTUNE_FIXTURES_DIR}/qwen2 ${SAMPLE}/sharegpt_seed.jsonl ${WORK}/numeric-flags)
set_tests_properties(cli_numeric_flags_range_checked PROPERTIES TIMEOUT 600)
# A test tool given a bad tokenizer reports it instead of aborting.
add_test(NAME tokenize_corpus_bad_tokenizer_named
         COMMAND ztune_tokenize_corpus ${WORK}/no-such-tokenizer.json ${WORK}/none.bin ${WORK}/none-out.bin)
set_tests_properties(tokenize_corpus_bad_tokenizer_named PROPERTIES
  PASS_REGULAR_EXPRESSION "error: .*no-such-tokenizer.json" FAIL_REGULAR_EXPRESSION "uncaught|terminate called")

# Labels, so that a developer can run a part: `ctest -L unit` (about a minute), -L mpi, -L python,
# -L store (ranks without MPI), -L cluster (two namespace "nodes"; root), -L slow (15 s or more each, as measured:
# tests/measured_times.cmake), -L gpu (needs a GPU; none yet). The gtest cases carry `unit` already.
set(ZTUNE_TEST_LABELS
  "unit:cli_.*|layers_include_only_downward|tokenize_corpus_bad_tokenizer_named|safetensors_ztune_writes_samples"
  "mpi:mpi_.*|zero_.*|staged_zero_.*|sft_end_to_end|sft_resume_equals_uninterrupted|sft_preemption|sft_without_mpi|sft_rank_failure_ends_job"
  "store:store_.*|staged_.*|torchrun_.*|zero_equivalence_store_.*|zero_equivalence_torchrun_.*|sft_without_mpi|sft_rank_failure_ends_job"
  "cluster:cluster_.*"
  "python:.*_python_.*|fixtures_.*|token_parity_.*|tokenizer_shapes_.*|cli_every_ms_swift_flag_known|encoding_parity_.*|lr_schedule_matches_transformers|sft_.*|export_.*|infer_.*|hub_.*|env_failures_named|mpi_data_shards_.*|zero_equivalence_.*|zero_full_training_memory_.*|staged_zero_.*")
get_property(ztune_registered DIRECTORY PROPERTY TESTS)
foreach(rule ${ZTUNE_TEST_LABELS})
  string(REGEX MATCH "^[a-z]+" label "${rule}")
  string(REGEX REPLACE "^[a-z]+:" "" pattern "${rule}")
  foreach(test ${ztune_registered})
    if(test MATCHES "^(${pattern})$")
      set_property(TEST ${test} APPEND PROPERTY LABELS ${label})
    endif()
  endforeach()
endforeach()

# Measured seconds (tests/measured_times.py writes the file): the COST that makes a fresh clone start the long
# tests first, and the slow label.
include(${CMAKE_CURRENT_SOURCE_DIR}/measured_times.cmake)
list(LENGTH ZTUNE_MEASURED_TIMES measured_count)
math(EXPR measured_last "${measured_count} - 1")
foreach(index RANGE 0 ${measured_last} 2)
  math(EXPR seconds_index "${index} + 1")
  list(GET ZTUNE_MEASURED_TIMES ${index} test)
  list(GET ZTUNE_MEASURED_TIMES ${seconds_index} seconds)
  if(TEST ${test})
    set_tests_properties(${test} PROPERTIES COST ${seconds})
    if(seconds GREATER_EQUAL 15)
      set_property(TEST ${test} APPEND PROPERTY LABELS slow)
    endif()
  endif()
endforeach()
