// PostgreSQL for unit tests: one server per ctest run (or per test process), one fresh schema
// per test.
//
// pg_url(): under ctest the `pg_server` fixture (tests/CMakeLists.txt) has started one server
// for the whole run and TERN_PG_URL_FILE names the file with its URL. A test binary run by
// hand (no TERN_PG_URL_FILE) starts a private server on first use with
// scripts/pg-test-server.sh and stops it when the process exits; the script's watchdog stops
// it too if the process dies first. Either way every server is stopped and its directory
// removed.
// PgSchema: `CREATE SCHEMA t_<random>`, a URL whose connections use it (search_path), and
// `DROP SCHEMA ... CASCADE` in the destructor: tests share the server, never their tables.
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

#include "store/pg_db.hpp"

namespace tern::test {

inline std::string pg_script() {
  return std::string(TERN_UNIT_DIR) + "/../../../scripts/pg-test-server.sh";
}

inline std::string pg_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

inline const std::string& pg_url() {
  struct Server {
    std::string url, dir;
    Server() {
      if (const char* f = ::getenv("TERN_PG_URL_FILE"); f != nullptr && *f != '\0') {
        url = pg_first_line(f);
        if (url.empty())
          throw std::runtime_error(std::string("TERN_PG_URL_FILE=") + f +
                                   " names no server URL: did the pg_server_start test fail?");
        return;
      }
      const std::string cmd =
          "bash " + pg_script() + " start --watch " + std::to_string(::getpid()) + " 2>&1";
      FILE* p = ::popen(cmd.c_str(), "r");
      if (p == nullptr) throw std::runtime_error("cannot run " + pg_script());
      std::string out;
      char buf[512];
      while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
      const int rc = ::pclose(p);
      const auto nl = out.find('\n');
      if (rc != 0 || nl == std::string::npos)
        throw std::runtime_error("pg-test-server.sh start failed: " + out);
      dir = out.substr(0, nl);
      url = out.substr(nl + 1);
      while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
    }
    ~Server() {
      if (!dir.empty()) {
        const std::string cmd = "bash " + pg_script() + " stop '" + dir + "' >/dev/null 2>&1";
        [[maybe_unused]] int rc = ::system(cmd.c_str());
      }
    }
  };
  static const Server s;
  return s.url;
}

// `url` with a libpq option added (URI form).
inline std::string pg_with_option(const std::string& url, const std::string& kv) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + kv;
}

class PgSchema {
 public:
  PgSchema() {
    std::random_device rd;
    static const char* hex = "0123456789abcdef";
    name_ = "t_";
    for (int i = 0; i < 16; ++i) name_ += hex[rd() % 16];
    auto c = store::pg::Conn::connect(pg_url());
    if (!c) throw std::runtime_error("PgSchema: " + c.error().message);
    if (auto r = c->exec("CREATE SCHEMA " + name_, "create test schema"); !r)
      throw std::runtime_error("PgSchema: " + r.error().message);
    url_ = pg_with_option(pg_url(), "options=-csearch_path%3D" + name_);
  }
  ~PgSchema() {
    auto c = store::pg::Conn::connect(pg_url());
    if (c) (void)c->exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE", "drop test schema");
  }
  PgSchema(const PgSchema&) = delete;
  PgSchema& operator=(const PgSchema&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_, url_;
};

}  // namespace tern::test
