#include "train/swanlab.h"

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "core/check.h"
#include "core/child_process.h"
#include "core/log.h"

namespace zt::train {
namespace {

using json = nlohmann::json;

// The sidecar. Replies (one JSON line each) go to the original stdout; everything the SDK prints goes to
// stderr, which is ztune's. Protocol, ztune -> sidecar:
//   {"op":"init", "project", "workspace", "name", "mode", "config", "log_dir", "run_dir"}
//   {"op":"log", "step", "metrics"}                                   (no reply unless it fails)
//   {"op":"finish", "state": "success"|"crashed", "timeout_s"}
// sidecar -> ztune: {"op":"ready", "ok", "version"|"error"} once the SDK is imported, then
// {"op":"init"|"log"|"finish", "ok", ...}. End of input without "finish": ztune ended, the run crashed.
constexpr const char* kSidecar = R"PY(
import json, os, signal, sys, threading

replies = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches ztune too; ztune ends the run

def reply(**fields):
    replies.write(json.dumps(fields) + "\n")
    replies.flush()

def describe(error):
    return "%s: %s" % (type(error).__name__, error)

try:
    import swanlab
except Exception as error:
    reply(op="ready", ok=False, error=describe(error))
    sys.exit(0)
reply(op="ready", ok=True, version=getattr(swanlab, "__version__", "unknown"))

def finish(state, timeout_s):
    # finish() waits for the uploads, without end when the service is unreachable; the records are on
    # disk by then (`swanlab sync` uploads them later), so a deadline ends the wait.
    def give_up():
        reply(op="finish", ok=False, timeout=True)
        os._exit(3)
    timer = threading.Timer(timeout_s, give_up)
    timer.daemon = True
    timer.start()
    swanlab.finish(state=state)
    timer.cancel()

run = None
for line in sys.stdin:
    message = json.loads(line)
    op = message["op"]
    if op == "init":
        try:
            os.makedirs(message["log_dir"], exist_ok=True)
            os.chdir(message["run_dir"])
            run = swanlab.init(project=message["project"], workspace=message["workspace"],
                               experiment_name=message["name"], mode=message["mode"],
                               config=message["config"], log_dir=message["log_dir"])
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # init installs its own
            url = None
            try:
                url = run.url
            except Exception:
                pass
            reply(op="init", ok=True, url=url, dir=str(getattr(run, "dir", "") or ""))
        except Exception as error:
            run = None
            reply(op="init", ok=False, error=describe(error))
    elif op == "log":
        if run is not None:
            try:
                swanlab.log(message["metrics"], step=message["step"])
            except Exception as error:
                reply(op="log", ok=False, error=describe(error))
    elif op == "finish":
        if run is not None:
            finish(message["state"], message["timeout_s"])
        reply(op="finish", ok=True)
        sys.exit(0)
if run is not None:
    finish("crashed", 60)
)PY";

constexpr size_t kMostQueued = 100000;  // lines held while the sidecar is slow; more are dropped and counted

}  // namespace

struct SwanLab::State {
  SwanLabSetup setup;
  std::unique_ptr<ChildProcess> child;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::string> queue;
  bool closing = false;      // no more lines: the writer closes the sidecar's input when the queue is empty
  bool finish_replied = false;
  bool output_ended = false;
  bool finished = false;
  size_t dropped = 0;
  std::thread writer, reader;

  void write_loop() {
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      changed.wait(lock, [&] { return !queue.empty() || closing; });
      if (queue.empty()) break;
      const std::string line = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      const bool written = child->write_line(line);
      lock.lock();
      if (!written) {  // the sidecar has ended; what is queued cannot go anywhere
        queue.clear();
        break;
      }
    }
    lock.unlock();
    child->close_input();
  }

  void read_loop() {
    while (std::optional<std::string> line = child->read_line()) {
      json reply;
      try {
        reply = json::parse(*line);
      } catch (const json::exception&) {
        ZT_LOG_WARN("SwanLab: the sidecar wrote '" << line->substr(0, 200) << "' instead of JSON");
        continue;
      }
      const std::string op = reply.value("op", "");
      const bool ok = reply.value("ok", false);
      if (op == "init" && ok) {
        const std::string url = reply["url"].is_string() ? reply["url"].get<std::string>() : "";
        ZT_LOG_INFO("SwanLab: run started (" << setup.mode << ")" << (url.empty() ? "" : ", " + url) << "; records in "
                                             << reply.value("dir", std::string("swanlog")));
      } else if (op == "init") {
        ZT_LOG_WARN("SwanLab: the run could not start (" << reply.value("error", std::string("no reason given"))
                                                         << "); training goes on without SwanLab, logging.jsonl has every value");
      } else if (op == "log") {
        ZT_LOG_WARN("SwanLab: a log call failed (" << reply.value("error", std::string("no reason given")) << ")");
      } else if (op == "finish") {
        if (!ok)
          ZT_LOG_WARN("SwanLab: the last uploads did not finish within " << setup.finish_timeout_s
                                                                         << " s; the records are on disk under the run "
                                                                            "folder's swanlog/, `swanlab sync` uploads them");
        std::lock_guard<std::mutex> lock(mutex);
        finish_replied = true;
        changed.notify_all();
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    output_ended = true;
    changed.notify_all();
  }

  void push(std::string line) {
    std::lock_guard<std::mutex> lock(mutex);
    if (closing) return;
    if (queue.size() >= kMostQueued) {
      if (dropped++ == 0) ZT_LOG_WARN("SwanLab: the sidecar is not keeping up; log lines are being dropped");
      return;
    }
    queue.push_back(std::move(line));
    changed.notify_all();
  }
};

std::string swanlab_python() {
  const std::string found = venv_python(".venv-swanlab");
  return found.empty() ? python_program() : found;
}

SwanLab::SwanLab(const SwanLabSetup& setup, const std::string& python, const std::string& run_dir, const json& config)
    : state_(std::make_unique<State>()) {
  state_->setup = setup;
  std::map<std::string, std::string> env;
  if (setup.token.has_value()) env["SWANLAB_API_KEY"] = *setup.token;  // never argv: visible in ps
  // The one command that makes the environment ztune looks for (what scripts/setup.sh runs).
  const std::string home = venv_home(".venv-swanlab");
  const std::string install = std::string("python3 -m venv ") + home + " && " + home +
                              "/bin/pip install 'swanlab[dashboard]==" + kSwanLabVersion + "'";
  try {
    state_->child = std::make_unique<ChildProcess>(std::vector<std::string>{python, "-u", "-c", kSidecar}, env);
  } catch (const Error& error) {
    ZT_THROW("--report_to swanlab runs the SwanLab SDK in Python, and " << python << " cannot be started ("
                                                                         << error.what() << "); install Python and "
                                                                         << "run: " << install << " (or set ZTUNE_PYTHON)");
  }
  const std::optional<std::string> ready = state_->child->read_line(120 * 1000);
  json reply;
  try {
    if (ready.has_value()) reply = json::parse(*ready);
  } catch (const json::exception&) {
  }
  if (!reply.value("ok", false)) {
    state_->child->kill();
    if (reply.contains("error"))
      ZT_THROW("--report_to swanlab needs the SwanLab SDK, which " << python << " cannot import ("
                                                                    << reply["error"].get<std::string>() << "); run: " << install
                                                                    << " (or set ZTUNE_PYTHON to a Python that has it)");
    ZT_THROW("--report_to swanlab: " << python << " did not start the SwanLab sidecar (its messages are above); run: "
                                     << install << " (or set ZTUNE_PYTHON)");
  }
  const std::string version = reply.value("version", std::string("unknown"));
  if (version != kSwanLabVersion)
    ZT_LOG_WARN("SwanLab: the SDK is version " << version << "; ztune is tested with " << kSwanLabVersion);
  const std::filesystem::path folder = std::filesystem::absolute(run_dir);
  const json init = {{"op", "init"},
                     {"project", setup.project},
                     {"workspace", setup.workspace ? json(*setup.workspace) : json(nullptr)},
                     {"name", setup.experiment_name.value_or(folder.string())},
                     {"mode", setup.mode},
                     {"config", config},
                     {"log_dir", (folder / "swanlog").string()},
                     {"run_dir", folder.string()}};
  state_->queue.push_back(init.dump());
  state_->writer = std::thread([state = state_.get()] { state->write_loop(); });
  state_->reader = std::thread([state = state_.get()] { state->read_loop(); });
}

SwanLab::~SwanLab() {
  try {
    finish(false);
  } catch (...) {
  }
}

void SwanLab::log(int64_t step, const json& metrics) {
  state_->push(json{{"op", "log"}, {"step", step}, {"metrics", metrics}}.dump());
}

void SwanLab::finish(bool success) {
  State& state = *state_;
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    if (state.finished) return;
    state.finished = true;
  }
  state.push(json{{"op", "finish"}, {"state", success ? "success" : "crashed"}, {"timeout_s", state.setup.finish_timeout_s}}.dump());
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.closing = true;
    state.changed.notify_all();
  }
  if (state.dropped > 0) ZT_LOG_WARN("SwanLab: " << state.dropped << " log lines were dropped (the sidecar fell behind)");
  // The sidecar bounds its own wait; this one covers a sidecar that hangs elsewhere.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(state.setup.finish_timeout_s + 30);
  {
    std::unique_lock<std::mutex> lock(state.mutex);
    state.changed.wait_until(lock, deadline, [&] { return state.finish_replied || state.output_ended; });
    state.changed.wait_for(lock, std::chrono::seconds(10), [&] { return state.output_ended; });
    if (!state.output_ended) {
      ZT_LOG_WARN("SwanLab: the sidecar did not end; stopping it");
      ::kill(state.child->pid(), SIGKILL);  // its pipes break: the writer and the reader return
    }
  }
  state.writer.join();
  state.reader.join();
  state.child->wait();
}

}  // namespace zt::train
