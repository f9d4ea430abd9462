// A scripted SMTP server for the client driver tests: a thread with blocking POSIX sockets on
// 127.0.0.1 that hands each accepted connection, in order, to the next script (a function of
// FakeConn&). TLS (STARTTLS or implicit) is OpenSSL on the same descriptor. serve_smtp() is a
// small configurable SMTP responder that records what it received.
//
// Invariants: every blocking read and write has a 5 s socket timeout and accept polls a stop
// flag, so a broken client makes a test fail, never hang. Results are read after join().
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tern::testing_net {

// One server-side connection: line reads, writes, STARTTLS, and everything received.
class FakeConn {
 public:
  FakeConn(int fd, SSL_CTX* ctx) : fd_(fd), ctx_(ctx) {
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~FakeConn() {
    if (ssl_) SSL_free(ssl_);
    ::close(fd_);
  }
  FakeConn(const FakeConn&) = delete;
  FakeConn& operator=(const FakeConn&) = delete;

  std::string received;    // every byte read from the client (decrypted after TLS)
  size_t plain_bytes = 0;  // how many of them arrived before TLS
  std::string sni;         // server name the client sent in its TLS hello
  bool tls() const { return ssl_ != nullptr; }

  bool start_tls() {
    if (!ctx_) return false;
    plain_bytes = received.size();
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (SSL_accept(ssl_) != 1) {
      SSL_free(ssl_);
      ssl_ = nullptr;
      return false;
    }
    if (const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) sni = n;
    buf_.clear();  // RFC 3207 §4.2: nothing sent before the handshake counts
    pos_ = 0;
    return true;
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
  bool reply(std::string_view line) { return write(std::string(line) + "\r\n"); }

  // The next line without its CRLF; nullopt on EOF, error or timeout.
  std::optional<std::string> line() {
    for (;;) {
      size_t e = buf_.find("\r\n", pos_);
      if (e != std::string::npos) {
        std::string l = buf_.substr(pos_, e - pos_);
        pos_ = e + 2;
        if (pos_ > 65536) {
          buf_.erase(0, pos_);
          pos_ = 0;
        }
        return l;
      }
      char tmp[16384];
      ssize_t n = ssl_ ? SSL_read(ssl_, tmp, sizeof tmp) : ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, static_cast<size_t>(n));
      received.append(tmp, static_cast<size_t>(n));
    }
  }

  // Reads until the client closes (or 5 s pass without a byte).
  void drain() {
    while (line()) {
    }
  }

 private:
  int fd_;
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  std::string buf_;
  size_t pos_ = 0;
};

// Serves one script per accepted connection, in order, on 127.0.0.1:port().
class FakeServer {
 public:
  using Script = std::function<void(FakeConn&)>;

  explicit FakeServer(std::vector<Script> scripts, SSL_CTX* tls = nullptr,
                      bool implicit_tls = false)
      : scripts_(std::move(scripts)), tls_(tls), implicit_tls_(implicit_tls) {
    std::signal(SIGPIPE, SIG_IGN);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
      throw std::runtime_error("fake server: cannot listen");
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeServer() {
    join();
    ::close(fd_);
  }

  uint16_t port() const { return port_; }
  // Stops accepting and waits for the running script; then the fields below are stable.
  void join() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  std::vector<std::string> transcripts;  // per connection: every byte the client sent
  std::vector<size_t> plain_bytes;       // per connection: bytes before TLS
  std::vector<std::string> snis;

 private:
  void run() {
    for (auto& script : scripts_) {
      int c = -1;
      while (!stop_ && c < 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0) c = ::accept(fd_, nullptr, nullptr);
      }
      if (c < 0) return;
      FakeConn conn(c, tls_);
      if (!implicit_tls_ || conn.start_tls()) script(conn);
      transcripts.push_back(conn.received);
      plain_bytes.push_back(conn.tls() ? conn.plain_bytes : conn.received.size());
      snis.push_back(conn.sni);
    }
  }

  std::vector<Script> scripts_;
  SSL_CTX* tls_;
  bool implicit_tls_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A port on 127.0.0.1 where nothing listens (bound, never listening: connect is refused).
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
};

// --- A small SMTP responder -----------------------------------------------------------------

struct SmtpBehavior {
  std::string greeting = "220 mx.test ESMTP fake";
  bool ehlo = true;                                       // false: 502 to EHLO (HELO works)
  std::vector<std::string> extensions{"PIPELINING"};      // offered before TLS
  std::vector<std::string> tls_extensions{"PIPELINING"};  // offered after TLS
  std::function<std::string(const std::string& rcpt)> rcpt_reply;  // default 250
  std::string data_reply = "250 2.0.0 queued";
  size_t drop_after_content = std::string::npos;  // close mid-DATA after this many wire bytes
  std::string stall_on;  // a verb ("MAIL", "DATA", ".") after which nothing is answered
  std::string auth_reply = "235 2.7.0 ok";
};

struct SmtpRecord {
  struct Command {
    std::string line;
    bool tls;
  };
  struct Message {
    std::string mail;                // the MAIL line
    std::vector<std::string> rcpts;  // accepted RCPT lines
    std::string wire;                // bytes after 354 up to and including the final dot
    std::string content;             // de-stuffed content
    bool complete = false;           // the final dot arrived
    bool tls = false;
  };
  std::vector<Command> commands;
  std::vector<Message> messages;
  bool quit = false;
};

inline bool starts_with_ci(const std::string& s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

inline void serve_smtp(FakeConn& c, const SmtpBehavior& b, SmtpRecord& rec) {
  c.reply(b.greeting);
  if (b.greeting.rfind("2", 0) != 0) {
    c.drain();
    return;
  }
  std::optional<SmtpRecord::Message> msg;
  auto stall = [&](std::string_view verb) {
    if (b.stall_on == verb) {
      c.drain();
      return true;
    }
    return false;
  };
  while (auto l = c.line()) {
    rec.commands.push_back({*l, c.tls()});
    const std::string& line = *l;
    if (starts_with_ci(line, "EHLO")) {
      if (!b.ehlo) {
        c.reply("502 5.5.2 not implemented");
        continue;
      }
      const auto& ext = c.tls() ? b.tls_extensions : b.extensions;
      std::string r = "250" + std::string(ext.empty() ? " " : "-") + "mx.test\r\n";
      for (size_t i = 0; i < ext.size(); ++i)
        r += "250" + std::string(i + 1 == ext.size() ? " " : "-") + ext[i] + "\r\n";
      c.write(r);
    } else if (starts_with_ci(line, "HELO")) {
      c.reply("250 mx.test");
    } else if (starts_with_ci(line, "STARTTLS")) {
      c.reply("220 2.0.0 go ahead");
      if (!c.start_tls()) return;
    } else if (starts_with_ci(line, "AUTH")) {
      c.reply(b.auth_reply);
    } else if (starts_with_ci(line, "MAIL")) {
      if (stall("MAIL")) return;
      msg = SmtpRecord::Message{};
      msg->mail = line;
      msg->tls = c.tls();
      c.reply("250 2.1.0 ok");
    } else if (starts_with_ci(line, "RCPT")) {
      std::string r = b.rcpt_reply ? b.rcpt_reply(line) : "250 2.1.5 ok";
      if (msg && r[0] == '2') msg->rcpts.push_back(line);
      c.reply(r);
    } else if (starts_with_ci(line, "DATA")) {
      if (stall("DATA")) return;
      if (!msg || msg->rcpts.empty()) {
        c.reply("554 5.5.1 no valid recipients");
        continue;
      }
      c.reply("354 go ahead");
      bool dropped = false;
      while (auto d = c.line()) {
        msg->wire += *d + "\r\n";
        if (*d == ".") {
          msg->complete = true;
          break;
        }
        msg->content += (!d->empty() && (*d)[0] == '.' ? d->substr(1) : *d) + "\r\n";
        if (msg->wire.size() >= b.drop_after_content) {
          dropped = true;
          break;
        }
      }
      rec.messages.push_back(std::move(*msg));
      const bool complete = rec.messages.back().complete;
      msg.reset();
      if (dropped || !complete) return;
      if (stall(".")) return;
      c.reply(b.data_reply);
    } else if (starts_with_ci(line, "RSET")) {
      msg.reset();
      c.reply("250 2.0.0 ok");
    } else if (starts_with_ci(line, "QUIT")) {
      rec.quit = true;
      c.reply("221 2.0.0 bye");
      return;
    } else {
      c.reply("500 5.5.1 unknown command");
    }
  }
}

}  // namespace tern::testing_net
