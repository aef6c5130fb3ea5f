#include "dist/rendezvous.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "core/check.h"

namespace zt::dist {
namespace {

class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Socket(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void send_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    ZT_REQUIRE(n > 0, "rendezvous: send failed: " << std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void recv_all(int fd, void* data, size_t size, double timeout_s) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    pollfd waiting{fd, POLLIN, 0};
    ZT_REQUIRE(::poll(&waiting, 1, static_cast<int>(timeout_s * 1000)) == 1,
               "rendezvous: no data from rank 0 within " << timeout_s << " s");
    ssize_t n = ::recv(fd, p, size, 0);
    ZT_REQUIRE(n > 0, "rendezvous: rank 0 closed the connection early");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

std::string tcp_share_blob(const std::string& blob, int rank, int world_size, const std::string& address, int port,
                           double timeout_s) {
  ZT_REQUIRE(port > 0 && port < 65536, "rendezvous: MASTER_PORT " << port << " is not a valid port");
  if (world_size == 1) return blob;
  const auto start = std::chrono::steady_clock::now();
  if (rank == 0) {
    Socket server(::socket(AF_INET, SOCK_STREAM, 0));
    ZT_REQUIRE(server.fd() >= 0, "rendezvous: socket() failed: " << std::strerror(errno));
    int on = 1;
    ::setsockopt(server.fd(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_ANY);
    local.sin_port = htons(static_cast<uint16_t>(port));
    ZT_REQUIRE(::bind(server.fd(), reinterpret_cast<sockaddr*>(&local), sizeof local) == 0,
               "rendezvous: rank 0 cannot listen on port " << port << ": " << std::strerror(errno)
                                                            << " (choose another MASTER_PORT)");
    ZT_REQUIRE(::listen(server.fd(), world_size) == 0, "rendezvous: listen failed: " << std::strerror(errno));
    const uint64_t size = blob.size();
    for (int served = 1; served < world_size; ++served) {
      pollfd waiting{server.fd(), POLLIN, 0};
      double left = timeout_s - seconds_since(start);
      ZT_REQUIRE(left > 0 && ::poll(&waiting, 1, static_cast<int>(left * 1000)) == 1,
                 "rendezvous: only " << served - 1 << " of " << world_size - 1 << " ranks connected to port " << port
                                     << " within " << timeout_s << " s");
      Socket peer(::accept(server.fd(), nullptr, nullptr));
      ZT_REQUIRE(peer.fd() >= 0, "rendezvous: accept failed: " << std::strerror(errno));
      send_all(peer.fd(), &size, sizeof size);
      send_all(peer.fd(), blob.data(), blob.size());
    }
    return blob;
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(address.c_str(), std::to_string(port).c_str(), &hints, &found);
  ZT_REQUIRE(rc == 0 && found != nullptr, "rendezvous: cannot resolve MASTER_ADDR '" << address << "': "
                                                                                     << ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, &::freeaddrinfo);
  for (;;) {
    Socket client(::socket(AF_INET, SOCK_STREAM, 0));
    if (::connect(client.fd(), found->ai_addr, found->ai_addrlen) == 0) {
      uint64_t size = 0;
      recv_all(client.fd(), &size, sizeof size, timeout_s);
      ZT_REQUIRE(size < (1u << 20), "rendezvous: implausible blob size " << size << " from rank 0");
      std::string received(size, '\0');
      recv_all(client.fd(), received.data(), size, timeout_s);
      return received;
    }
    ZT_REQUIRE(seconds_since(start) < timeout_s, "rendezvous: rank " << rank << " could not reach rank 0 at "
                                                                     << address << ":" << port << " within "
                                                                     << timeout_s << " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace zt::dist
