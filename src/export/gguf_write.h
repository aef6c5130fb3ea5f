// GGUF out: a Hugging Face model folder (llama, mistral, qwen2, qwen3) written as one llama.cpp GGUF v3 file, as
// llama.cpp's convert_hf_to_gguf.py writes it: llama.cpp's tensor names, the llama q/k rows permuted for ggml's
// rope, its metadata keys (general.*, the architecture's hyper-parameters, the tokenizer: "gpt2" with merges for
// byte-level BPE, "llama" with scores and types for SentencePiece folders (from tokenizer.model, else from
// tokenizer.json as gguf-py's LlamaHfVocab reads it), special ids and chat template), alignment 32.
//
// Values are rounded as the `gguf` Python package rounds them (numpy's float16, ggml's bf16 and Q8_0), so a file
// from here and one from convert_hf_to_gguf.py hold the same tensor bytes.
#pragma once

#include <string>

namespace zt::exporting {

// The --to_gguf types: "f16", "bf16", "q8_0".
bool is_gguf_out_type(const std::string& type);

// "<folder name>-<TYPE>.gguf" for the model folder `model_dir` ("Qwen2.5-7B-Instruct-F16.gguf").
std::string gguf_file_name(const std::string& model_dir, const std::string& type);

// Writes `out_path` from the Hugging Face folder `model_dir`. `type` (is_gguf_out_type) is the type of every matrix;
// norms, biases and other 1-D tensors stay float32, and q8_0 falls back to f16 for a matrix whose rows are not a
// multiple of 32, as convert_hf_to_gguf.py does. A model or tokenizer GGUF out cannot express is a zt::Error
// naming the file and what to do, raised before anything is written.
void hf_to_gguf(const std::string& model_dir, const std::string& out_path, const std::string& type);

// The checks hf_to_gguf makes before reading weights (family, hyper-parameters, tokenizer), so that a merge can
// fail before it starts rather than after.
void check_hf_to_gguf(const std::string& model_dir);

}  // namespace zt::exporting
