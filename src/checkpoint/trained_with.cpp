#include "checkpoint/trained_with.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/json_file.h"

namespace zt::checkpoint {

TrainedWith read_trained_with(const std::string& checkpoint_dir) {
  TrainedWith out;
  const std::filesystem::path path = std::filesystem::path(checkpoint_dir) / "args.json";
  if (!std::filesystem::exists(path)) return out;
  const nlohmann::json args = read_json_file(path.string());
  ZT_REQUIRE(args.is_object(), path.string() << ": not a JSON object");
  auto text = [&](const char* key) -> std::optional<std::string> {
    if (args.contains(key) && args[key].is_string()) return args[key].get<std::string>();
    return std::nullopt;
  };
  out.model = text("model");
  if (auto dir = text("model_dir"); dir && std::filesystem::exists(*dir)) out.model = dir;
  out.template_name = text("template");
  if (text("template_backend") == std::string("jinja")) out.template_name = "jinja";  // the model's own template
  out.chat_template_kwargs = args.contains("chat_template_kwargs") && args["chat_template_kwargs"].is_string()
                                 ? args["chat_template_kwargs"].get<std::string>()
                                 : std::string();
  out.system = text("system");
  out.torch_dtype = text("torch_dtype");
  auto flag = [&](const char* key) { return args.contains(key) && args[key].is_boolean() && args[key].get<bool>(); };
  if (flag("bf16")) out.torch_dtype = "bfloat16";
  if (flag("fp16")) out.torch_dtype = "float16";
  if (args.contains("max_length") && args["max_length"].is_number_integer()) out.max_length = args["max_length"].get<int>();
  out.use_hf = flag("use_hf");
  return out;
}

}  // namespace zt::checkpoint
