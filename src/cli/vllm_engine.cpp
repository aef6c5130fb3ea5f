#include "cli/vllm_engine.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/child_process.h"

namespace zt::cli {
namespace {

using json = nlohmann::json;

// The bridge: one JSON line of setup on stdin, then one request line per batch. Replies go to the original
// stdout; anything vLLM or its libraries print goes to stderr so that it cannot break the protocol.
const char* const kBridge = R"PY(
import json, os, sys
channel = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr
def send(message):
    channel.write(json.dumps(message) + "\n")
    channel.flush()
setup = json.loads(sys.stdin.readline())
try:
    import vllm
    from vllm import LLM, SamplingParams
except Exception as error:
    send({"error": "vLLM is not importable by %s (%s: %s)" % (sys.executable, type(error).__name__, error)})
    sys.exit(0)
version = getattr(vllm, "__version__", "unknown")
kwargs = dict(model=setup["model"], skip_tokenizer_init=True, dtype=setup["dtype"], seed=setup["seed"],
              gpu_memory_utilization=setup["gpu_memory_utilization"],
              tensor_parallel_size=setup["tensor_parallel_size"], max_num_seqs=setup["max_num_seqs"],
              enforce_eager=setup["enforce_eager"], disable_custom_all_reduce=setup["disable_custom_all_reduce"])
if setup["max_model_len"]:
    kwargs["max_model_len"] = setup["max_model_len"]
if setup["enable_prefix_caching"] is not None:
    kwargs["enable_prefix_caching"] = setup["enable_prefix_caching"]
lora = None
if setup["lora"]:
    from vllm.lora.request import LoRARequest
    kwargs.update(enable_lora=True, max_lora_rank=setup["max_lora_rank"])
    lora = LoRARequest("adapter", 1, setup["lora"])
kwargs.update(setup["engine_kwargs"])
try:
    llm = LLM(**kwargs)
except Exception as error:
    send({"error": "vLLM %s could not load %s (%s: %s)" % (version, setup["model"], type(error).__name__, error)})
    sys.exit(0)
send({"ready": True, "version": version})
for line in sys.stdin:
    request = json.loads(line)
    s = request["sampling"]
    params = SamplingParams(temperature=s["temperature"], top_p=s["top_p"], top_k=s["top_k"] if s["top_k"] > 0 else -1,
                            repetition_penalty=s["repetition_penalty"], max_tokens=s["max_tokens"],
                            stop_token_ids=s["stop_token_ids"], seed=s["seed"], detokenize=False)
    try:
        results = llm.generate([{"prompt_token_ids": ids} for ids in request["prompts"]], params, use_tqdm=False,
                               lora_request=lora)
        send({"outputs": [list(result.outputs[0].token_ids) for result in results]})
    except Exception as error:
        send({"error": "vLLM %s failed to generate (%s: %s)" % (version, type(error).__name__, error)})
)PY";

}  // namespace

VllmEngine::VllmEngine(std::unique_ptr<ChildProcess> child, std::string version)
    : child_(std::move(child)), version_(std::move(version)) {}

VllmEngine::~VllmEngine() = default;

std::unique_ptr<VllmEngine> VllmEngine::start(const VllmSetup& setup, std::string* why_not) {
  const std::string python = python_program();
  json engine_kwargs;
  try {
    engine_kwargs = json::parse(setup.engine_kwargs_json);
  } catch (const json::exception& error) {
    ZT_THROW("--vllm_engine_kwargs is not JSON (" << error.what() << "); pass an object such as '{\"swap_space\": 4}'");
  }
  ZT_REQUIRE(engine_kwargs.is_object(), "--vllm_engine_kwargs must be a JSON object, got " << setup.engine_kwargs_json);
  const json message = {{"model", setup.model_dir},
                        {"lora", setup.lora_dir ? json(*setup.lora_dir) : json(nullptr)},
                        {"dtype", setup.dtype},
                        {"max_model_len", setup.max_model_len},
                        {"gpu_memory_utilization", setup.gpu_memory_utilization},
                        {"tensor_parallel_size", setup.tensor_parallel_size},
                        {"max_num_seqs", setup.max_num_seqs},
                        {"enforce_eager", setup.enforce_eager},
                        {"max_lora_rank", setup.max_lora_rank},
                        {"enable_prefix_caching",
                         setup.enable_prefix_caching ? json(*setup.enable_prefix_caching) : json(nullptr)},
                        {"disable_custom_all_reduce", setup.disable_custom_all_reduce},
                        {"engine_kwargs", engine_kwargs},
                        {"seed", setup.seed}};
  std::unique_ptr<ChildProcess> child;
  try {
    child = std::make_unique<ChildProcess>(std::vector<std::string>{python, "-u", "-c", kBridge});
  } catch (const Error& error) {
    *why_not = std::string("no Python to run vLLM: ") + error.what();
    return nullptr;
  }
  std::optional<std::string> line;
  if (child->write_line(message.dump())) line = child->read_line();
  if (!line.has_value()) {
    const int status = child->wait();
    *why_not = python + " ended (status " + std::to_string(status) + ") before vLLM was ready; its messages are above";
    return nullptr;
  }
  json reply;
  try {
    reply = json::parse(*line);
  } catch (const json::exception&) {
    *why_not = "the vLLM bridge answered '" + line->substr(0, 200) + "' instead of JSON";
    return nullptr;
  }
  if (reply.contains("error")) {
    *why_not = reply["error"].get<std::string>();
    child->wait();
    return nullptr;
  }
  return std::unique_ptr<VllmEngine>(new VllmEngine(std::move(child), reply.value("version", std::string("unknown"))));
}

std::vector<std::vector<int64_t>> VllmEngine::generate(const std::vector<std::vector<int64_t>>& prompts,
                                                       const model::SamplingConfig& config) {
  std::vector<int64_t> stops;  // each once (the template's stop token is often generation_config's eos too)
  for (int64_t id : config.stop_ids)
    if (std::find(stops.begin(), stops.end(), id) == stops.end()) stops.push_back(id);
  const json sampling = {{"temperature", config.do_sample ? config.temperature : 0.0},
                         {"top_p", config.do_sample ? config.top_p : 1.0},
                         {"top_k", config.do_sample ? config.top_k : 0},
                         {"repetition_penalty", config.repetition_penalty},
                         {"max_tokens", config.max_new_tokens},
                         {"stop_token_ids", stops},
                         {"seed", config.seed}};
  ZT_REQUIRE(child_->write_line(json{{"prompts", prompts}, {"sampling", sampling}}.dump()),
             "vLLM (" << version_ << ") has ended; its messages are above");
  const std::optional<std::string> line = child_->read_line();
  ZT_REQUIRE(line.has_value(), "vLLM (" << version_ << ") ended while generating; its messages are above");
  const json reply = json::parse(*line);
  ZT_REQUIRE(!reply.contains("error"), reply["error"].get<std::string>());
  std::vector<std::vector<int64_t>> outputs = reply.at("outputs").get<std::vector<std::vector<int64_t>>>();
  ZT_CHECK(outputs.size() == prompts.size(), "vLLM returned " << outputs.size() << " replies for " << prompts.size()
                                                              << " prompts");
  return outputs;
}

}  // namespace zt::cli
