// --report_to swanlab: rank 0's metrics go to SwanLab through the SwanLab SDK itself, run in a Python child
// process (the "sidecar") that reads one JSON line per call on its stdin. Why a sidecar: the SDK's record
// format and its cloud protocol change between versions, and the SDK is what `swanlab sync` and the
// service accept; driving it keeps ztune's runs readable by every SwanLab tool. See docs/SWANLAB.md.
//
// Nothing here waits on the network during training: log() queues a line for a writer thread, the SDK
// uploads in its own threads, and failures (no service, a wrong key, an upload that fails) become
// warnings. Only the start (importing the SDK: a missing SDK is an error naming the pip command) and
// finish() (the last uploads, bounded by `finish_timeout_s`) wait.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>

namespace zt::train {

struct SwanLabSetup {
  std::string project = "ms-swift";
  std::optional<std::string> workspace;
  std::optional<std::string> experiment_name;  // default: the run folder, as ms-swift
  std::string mode = "cloud";                  // cloud | local | offline | disabled
  std::optional<std::string> token;            // --swanlab_token or SWANLAB_API_KEY; to the SDK by environment only
  double finish_timeout_s = 120;               // how long the end of the run waits for the last uploads
};

// The SDK version ztune is tested with (requirements-swanlab.txt pins it).
inline constexpr const char* kSwanLabVersion = "0.10.3";

// The Python the sidecar runs in: $ZTUNE_PYTHON, else the .venv-swanlab scripts/setup.sh made beside ztune's source
// (found from the binary, whatever the working folder), else python3.
std::string swanlab_python();

class SwanLab {
 public:
  // Starts the sidecar in `python` and the SwanLab run: logs go to run_dir/swanlog, `config` is the
  // run's arguments (without tokens). Throws zt::Error when the SDK cannot be imported.
  SwanLab(const SwanLabSetup& setup, const std::string& python, const std::string& run_dir, const nlohmann::json& config);
  ~SwanLab();  // a run that was not finished is marked crashed
  SwanLab(const SwanLab&) = delete;
  SwanLab& operator=(const SwanLab&) = delete;

  // Queues `metrics` (name -> number) at `step`; never blocks.
  void log(int64_t step, const nlohmann::json& metrics);
  // Ends the SwanLab run (finished or crashed) and waits for its last uploads, at most finish_timeout_s.
  void finish(bool success);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace zt::train
