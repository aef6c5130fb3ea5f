#include "dist/store.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <string>

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
    ZT_SYSTEM_THROW("rank " << env.rank << ": cannot " << (options.isServer ? "serve" : "reach")
                            << " the rendezvous store at " << address << ":" << port << " within " << timeout_s
                            << " s (" << e.what() << "); check MASTER_ADDR/MASTER_PORT and that rank 0 started");
  }
  // A restarted torchrun group shares the agent's store with the attempt before it.
  const char* restart = std::getenv("TORCHELASTIC_RESTART_COUNT");
  return c10::make_intrusive<c10d::PrefixStore>("ztune/" + std::string(restart != nullptr ? restart : "0"), store);
}

}  // namespace zt::dist
