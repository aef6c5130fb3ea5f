# Tests that run programs: the CLI, multi-rank behaviour, and the Python reference side.
set(WORK ${CMAKE_CURRENT_BINARY_DIR}/work)

# safetensors interop: Python writes references for the unit tests; Python reads what ztune writes.
add_test(NAME safetensors_python_writes_reference
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/safetensors_interop.py write-reference ${WORK}/safetensors)
set_tests_properties(safetensors_python_writes_reference PROPERTIES FIXTURES_SETUP st_reference)

add_executable(ztune_st_write_samples tools/st_write_samples.cpp)
target_link_libraries(ztune_st_write_samples PRIVATE ztune_lib)
target_precompile_headers(ztune_st_write_samples REUSE_FROM ztune_lib)
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
add_test(NAME cli_unknown_flag_fails COMMAND ztune sft --bogus 1)
set_tests_properties(cli_unknown_flag_fails PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_unknown_flag_named COMMAND ztune sft --bogus 1)
set_tests_properties(cli_unknown_flag_named PROPERTIES
  PASS_REGULAR_EXPRESSION "unknown flag --bogus for 'ztune sft'; the nearest valid flag is --")
add_test(NAME cli_bad_value_named COMMAND ztune sft --lora_rank eight)
set_tests_properties(cli_bad_value_named PROPERTIES PASS_REGULAR_EXPRESSION "--lora_rank expects an integer, got 'eight'")
add_test(NAME cli_env COMMAND ztune env)
set_tests_properties(cli_env PROPERTIES PASS_REGULAR_EXPRESSION "libtorch +2\\.11\\.0")

# A failed check on one rank takes the whole MPI job down, naming the rank, instead of hanging.
find_program(MPIRUN mpirun REQUIRED)
add_test(NAME mpi_failed_check_aborts_job
         COMMAND ${CMAKE_SOURCE_DIR}/tests/expect_failure.sh 60 "rank 1 on .* check failed"
                 ${MPIRUN} --oversubscribe --allow-run-as-root -np 2 $<TARGET_FILE:ztune_abort_probe>)

# The fixture generator gives the same bytes twice.
add_test(NAME fixtures_deterministic
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_fixtures_deterministic.py ${ZTUNE_FIXTURES_DIR})
set_tests_properties(fixtures_deterministic PROPERTIES TIMEOUT 600)

# Fixtures load in transformers and tokenizers exactly as generated.
add_test(NAME fixtures_load_in_transformers
         COMMAND ${ZTUNE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/python/check_fixtures_load.py ${ZTUNE_FIXTURES_DIR})
