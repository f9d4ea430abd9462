// A scripted HTTP/1.1 server for the webhook client and sender tests: a thread with blocking
// POSIX sockets on 127.0.0.1 (optionally TLS on every connection) that hands each accepted
// connection, in order, to the next script (a function of HttpConn&). read_request() parses one
// request (request line, headers, Content-Length body); respond() writes a response.
//
// Invariants: every blocking read and write has a socket timeout (5 s) and accept polls a stop
// flag, so a broken client makes a test fail, never hang. Results are read after join().
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tern::testing_http {

struct Request {
  std::string method, target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpConn {
 public:
  HttpConn(int fd, SSL_CTX* ctx) : fd_(fd) {
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (ctx) {
      ssl_ = SSL_new(ctx);
      SSL_set_fd(ssl_, fd_);
      if (SSL_accept(ssl_) != 1) {
        SSL_free(ssl_);
        ssl_ = nullptr;
        handshake_failed = true;
      } else if (const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) {
        sni = n;
      }
    }
  }
  ~HttpConn() {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    ::close(fd_);
  }
  HttpConn(const HttpConn&) = delete;
  HttpConn& operator=(const HttpConn&) = delete;

  bool handshake_failed = false;
  std::string sni;

  std::optional<Request> read_request() {
    if (handshake_failed) return std::nullopt;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return std::nullopt;
    Request r;
    std::string head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    size_t pos = head.find("\r\n");
    std::string first = head.substr(0, pos);
    size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
    r.method = first.substr(0, sp1);
    r.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
    pos += 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      std::string l = head.substr(pos, e - pos);
      pos = e + 2;
      size_t c = l.find(':');
      std::string name = l.substr(0, c);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string v = l.substr(c + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      r.headers[name] = v;
    }
    size_t len = std::stoul(r.header("content-length").empty() ? "0" : r.header("content-length"));
    while (buf_.size() < len)
      if (!fill()) return std::nullopt;
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

  bool write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ssl_ ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                       : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  bool respond(int status, const std::string& reason, const std::string& body = "",
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (const auto& [k, v] : headers) r += k + ": " + v + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    return write(r + body);
  }

  // Waits until the client closes or `ms` pass (a server that never answers).
  void hang(int ms) {
    pollfd p{fd_, POLLIN, 0};
    int left = ms;
    while (left > 0) {
      if (::poll(&p, 1, 50) > 0) {
        char tmp[4096];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) return;
      }
      left -= 50;
    }
  }

 private:
  bool fill() {
    char tmp[16384];
    ssize_t n = ssl_ ? SSL_read(ssl_, tmp, sizeof tmp) : ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

class FakeHttpServer {
 public:
  using Script = std::function<void(HttpConn&)>;

  explicit FakeHttpServer(std::vector<Script> scripts, SSL_CTX* tls = nullptr)
      : scripts_(std::move(scripts)), tls_(tls) {
    std::signal(SIGPIPE, SIG_IGN);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
      throw std::runtime_error("fake http server: cannot listen");
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeHttpServer() {
    join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook", const std::string& host = "127.0.0.1") const {
    return std::string(tls_ ? "https" : "http") + "://" + host + ":" + std::to_string(port_) + path;
  }
  void join() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t accepted() const { return accepted_; }

 private:
  void run() {
    for (auto& script : scripts_) {
      int c = -1;
      while (!stop_ && c < 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0) c = ::accept(fd_, nullptr, nullptr);
      }
      if (c < 0) return;
      ++accepted_;
      HttpConn conn(c, tls_);
      script(conn);
    }
  }

  std::vector<Script> scripts_;
  SSL_CTX* tls_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> accepted_{0};
  std::thread thread_;
};

}  // namespace tern::testing_http
