#include "dist/store.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/check.h"

namespace zt::dist {

c10::intrusive_ptr<c10d::Store> open_rendezvous_store(const LaunchEnv& env, double timeout_s) {
  const char* address = std::getenv("MASTER_ADDR");
  const char* port_text = std::getenv("MASTER_PORT");
  ZT_REQUIRE(address != nullptr && port_text != nullptr && *address != '\0',
             "rank " << env.rank << " of " << env.world_size << " (launched by " << env.launcher
                     << ") has no MPI to meet the other ranks through: set MASTER_ADDR and MASTER_PORT (rank 0's "
                        "host and a free port, as torchrun does), or launch with mpirun / srun --mpi=pmix");
  char* end = nullptr;
  const long port = std::strtol(port_text, &end, 10);
  ZT_REQUIRE(end != port_text && *end == '\0' && port > 0 && port < 65536,
             "MASTER_PORT=" << port_text << " is not a port number (1-65535)");
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(port);
  // torchrun's agent serves the store itself and tells its workers so; then rank 0 is a client too.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  options.isServer = env.rank == 0 && !(agent != nullptr && std::string(agent) == "True");
  options.numWorkers = static_cast<size_t>(env.world_size);
  options.waitWorkers = false;  // the first collective meets everyone, with its own timeout and message
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(address, options);
  } catch (const std::exception& e) {
    const std::string why = e.what();
    ZT_SYSTEM_THROW("rank " << env.rank << ": cannot " << (options.isServer ? "serve" : "reach")
                            << " the rendezvous store at " << address << ":" << port << " within " << timeout_s
                            << " s (" << why.substr(0, why.find('\n')) << "); check MASTER_ADDR/MASTER_PORT and that "
                            << "rank 0 started");
  }
  // A restarted torchrun group shares the agent's store with the attempt before it.
  const char* restart = std::getenv("TORCHELASTIC_RESTART_COUNT");
  return c10::make_intrusive<c10d::PrefixStore>("ztune/" + std::string(restart != nullptr ? restart : "0"), store);
}

namespace {

c10::intrusive_ptr<c10d::Store>& the_job_store() {
  static c10::intrusive_ptr<c10d::Store> store;
  return store;
}
int g_world_size = 1;
bool g_serves_store = false;

// Sets the abort key. The rank that serves the store then stays (up to 10 s) until every other rank has seen
// it: a rank still starting would otherwise find no store at all and wait for it until its timeout.
void store_abort_hook(int exit_code) {
  try {
    if (!the_job_store()) return;
    the_job_store()->set("abort", std::vector<uint8_t>(1, static_cast<uint8_t>(exit_code)));
    if (!g_serves_store) return;
    const auto start = std::chrono::steady_clock::now();
    while (the_job_store()->add("abort_seen", 0) < g_world_size - 1 &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(10))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } catch (...) {
  }
}

}  // namespace

c10::intrusive_ptr<c10d::Store> job_store(const LaunchEnv& env, double timeout_s) {
  if (!the_job_store()) {
    the_job_store() = open_rendezvous_store(env, timeout_s);
    const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    g_world_size = env.world_size;
    g_serves_store = env.rank == 0 && !(agent != nullptr && std::string(agent) == "True");
    set_abort_hook(&store_abort_hook);
  }
  return the_job_store();
}

bool job_aborted() {
  try {
    if (!the_job_store() || !the_job_store()->check({"abort"})) return false;
    static std::once_flag said;  // tell the rank serving the store that this one has seen it
    std::call_once(said, [] { the_job_store()->add("abort_seen", 1); });
    return true;
  } catch (...) {
    return false;  // the store is gone: rank 0, which serves it, has ended, maybe after finishing its run
  }
}

}  // namespace zt::dist
