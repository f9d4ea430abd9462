#include "store/pg_db.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sodium.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>

#include "core/utf8.hpp"

namespace tern::store::pg {

namespace {

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string trimmed(const char* m) {
  std::string s = m != nullptr ? m : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// How long a pipelined batch may wait for the server before the connection counts as lost.
constexpr int kPipelineTimeoutMs = 60'000;

}  // namespace

core::ErrorCode code_for_sqlstate(std::string_view s) {
  using core::ErrorCode;
  if (s.size() != 5) return ErrorCode::unavailable;  // no SQLSTATE: the connection failed
  if (s == "23505" || s == "23503" || s == "23P01") return ErrorCode::conflict;
  // Other integrity violations (NOT NULL, CHECK) are bugs of ours, as on SQLite.
  if (starts(s, "23")) return ErrorCode::internal;
  if (starts(s, "22")) return ErrorCode::invalid;
  if (s == "40001" || s == "40P01" || s == "26000") return ErrorCode::unavailable;
  if (starts(s, "08") || s == "57P01" || s == "57P02" || s == "57P03" || s == "57014")
    return ErrorCode::unavailable;
  if (s == "53100") return ErrorCode::disk_full;
  if (starts(s, "53") || s == "55P03" || starts(s, "58")) return ErrorCode::unavailable;
  if (s == "XX001" || s == "XX002") return ErrorCode::corrupt;
  return ErrorCode::internal;  // 42xxx (our SQL), 25xxx (our transaction handling), XX000, ...
}

Failure failure_for_sqlstate(std::string_view s) {
  if (s == "40001") return Failure::serialization;
  if (s == "40P01") return Failure::deadlock;
  if (s == "26000") return Failure::statement_gone;
  if (s.size() != 5 || starts(s, "08") || s == "57P01" || s == "57P02" || s == "57P03")
    return Failure::connection;
  return Failure::other;
}

// --- Params ---

std::string storable_text(std::string_view s) {
  if (s.find('\0') == std::string_view::npos && core::valid_utf8(s)) return std::string(s);
  std::string out = core::to_valid_utf8(s);
  std::string clean;
  clean.reserve(out.size());
  for (char ch : out) {
    if (ch == '\0')
      clean += "\xEF\xBF\xBD";
    else
      clean += ch;
  }
  return clean;
}

Params& Params::add(std::string_view v) {
  values_.push_back(storable_text(v));
  null_.push_back(false);
  return *this;
}

Params& Params::add_null() {
  values_.emplace_back();
  null_.push_back(true);
  return *this;
}

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> p(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) p[i] = null_[i] ? nullptr : values_[i].c_str();
  return p;
}

// --- Rows ---

Rows::~Rows() {
  if (r_ != nullptr) PQclear(r_);
}

Rows& Rows::operator=(Rows&& o) noexcept {
  if (this != &o) {
    if (r_ != nullptr) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

std::string_view Rows::view(int row, int col) const {
  const char* p = PQgetvalue(r_, row, col);
  if (p == nullptr) return {};
  return {p, static_cast<size_t>(PQgetlength(r_, row, col))};
}

int64_t Rows::int64(int row, int col) const {
  std::string_view v = view(row, col);
  int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

int64_t Rows::affected() const {
  const char* t = r_ != nullptr ? PQcmdTuples(r_) : nullptr;
  if (t == nullptr || *t == '\0') return 0;
  int64_t out = 0;
  std::from_chars(t, t + std::strlen(t), out);
  return out;
}

// --- Conn ---

Conn::~Conn() {
  if (c_ != nullptr) PQfinish(c_);
}

Conn::Conn(Conn&& o) noexcept
    : c_(o.c_),
      failure_(o.failure_),
      sqlstate_(std::move(o.sqlstate_)),
      prepared_(std::move(o.prepared_)),
      seen_(std::move(o.seen_)),
      tag_(std::move(o.tag_)) {
  o.c_ = nullptr;
}

Conn& Conn::operator=(Conn&& o) noexcept {
  if (this != &o) {
    if (c_ != nullptr) PQfinish(c_);
    c_ = o.c_;
    o.c_ = nullptr;
    failure_ = o.failure_;
    sqlstate_ = std::move(o.sqlstate_);
    prepared_ = std::move(o.prepared_);
    seen_ = std::move(o.seen_);
    tag_ = std::move(o.tag_);
  }
  return *this;
}

std::string statement_name(std::string_view tag, std::string_view sql) {
  unsigned char h[16];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(sql.data()), sql.size(),
                     nullptr, 0);
  char hex[sizeof h * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return fmt::format("tern_{}_{}", tag, hex);
}

core::Result<const std::string*> Conn::statement_for(const std::string& sql, int nparams,
                                                     std::string_view what) {
  if (auto it = prepared_.find(sql); it != prepared_.end()) return &it->second;
  if (!seen_.count(sql) || prepared_.size() >= kMaxPrepared) return nullptr;
  seen_.erase(sql);
  if (tag_.empty()) {
    unsigned char t[4];
    randombytes_buf(t, sizeof t);
    char hex[sizeof t * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, t, sizeof t);
    tag_ = hex;
  }
  std::string name = statement_name(tag_, sql);
  PGresult* r = PQprepare(c_, name.c_str(), sql.c_str(), nparams, nullptr);
  if (r == nullptr) return fail_conn(what);
  if (PQresultStatus(r) == PGRES_COMMAND_OK) {
    PQclear(r);
    return &prepared_.emplace(sql, std::move(name)).first->second;
  }
  // Inside a transaction the failed Parse aborted it: its own error (a lock timeout or a lost
  // connection is temporary) is the statement's, never the 25P02 an unnamed try would get.
  if (PQtransactionStatus(c_) == PQTRANS_INERROR) {
    core::Error e = fail(r, what);
    PQclear(r);
    return e;
  }
  // Outside one nothing else was touched: sent unnamed, which reports what is wrong.
  PQclear(r);
  return nullptr;
}

void Conn::used(const std::string& sql) {
  if (prepared_.count(sql) || prepared_.size() >= kMaxPrepared) return;
  if (sql.find(';') != std::string::npos) return;       // several statements: never prepared
  if (seen_.size() >= 4 * kMaxPrepared) seen_.clear();  // one-off texts (generated lists)
  seen_.insert(sql);
}

static bool stale_plan(const PGresult* r) {
  const char* st = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* m = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  return st != nullptr && m != nullptr && std::string_view(st) == "0A000" &&
         std::string_view(m).starts_with("cached plan must not change result type");
}

void Conn::forget_statements() {
  prepared_.clear();
  seen_.clear();
  // Names under a new tag: after a stale plan the server still holds the old ones (they go
  // with the connection), so a text prepared again must not reuse its old name.
  tag_.clear();
}

bool Conn::statement_gone(const PGresult* r) {
  const char* st = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (st == nullptr || (std::string_view(st) != "26000" && !stale_plan(r))) return false;
  forget_statements();
  return PQtransactionStatus(c_) == PQTRANS_IDLE;
}

core::Result<Conn> Conn::connect(const std::string& url) {
  // A malformed URL is the operator's mistake (permanent), not an unreachable server.
  char* perr = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &perr);
  if (parsed == nullptr) {
    std::string m = trimmed(perr != nullptr ? perr : "out of memory");
    if (perr != nullptr) PQfreemem(perr);
    // libpq quotes the URL or parts of it (a password too) in its parse errors: what it
    // quotes is never echoed.
    if (const auto q = m.find('"'); q != std::string::npos) m.resize(q);
    while (!m.empty() && (m.back() == ' ' || m.back() == ':')) m.pop_back();
    return core::Error::invalid("store: invalid PostgreSQL URL: " + m);
  }
  PQconninfoFree(parsed);
  // Defaults first: the values in the URL (expanded from dbname, processed last) win.
  const char* keys[] = {"application_name",
                        "connect_timeout",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "dbname",
                        nullptr};
  const char* vals[] = {"tern", "5", "1", "5", "2", "3", "15000", url.c_str(), nullptr};
  Conn c;
  c.c_ = PQconnectdbParams(keys, vals, 1);
  if (c.c_ == nullptr) return core::Error::unavailable("store: PostgreSQL: out of memory");
  // NOTICEs ("relation already exists, skipping") are not errors and not for stderr.
  PQsetNoticeProcessor(
      c.c_, [](void*, const char*) {}, nullptr);
  if (PQstatus(c.c_) != CONNECTION_OK) {
    return core::Error::unavailable("store: connect to PostgreSQL: " +
                                    trimmed(PQerrorMessage(c.c_)));
  }
  // Times and texts are ours: UTC, UTF-8, no locale-dependent output.
  PGresult* r = PQexec(c.c_, "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'");
  const bool ok = r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK;
  if (r != nullptr) PQclear(r);
  if (!ok) return c.fail_conn("connect");
  return c;
}

core::Error Conn::fail(const PGresult* r, std::string_view what) {
  const char* st = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  sqlstate_ = st != nullptr ? st : "";
  failure_ = broken()        ? Failure::connection
             : stale_plan(r) ? Failure::statement_gone
                             : failure_for_sqlstate(sqlstate_);
  const char* primary = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string msg = primary != nullptr ? trimmed(primary) : trimmed(PQerrorMessage(c_));
  core::ErrorCode code = failure_ == Failure::connection || failure_ == Failure::statement_gone
                             ? core::ErrorCode::unavailable
                             : code_for_sqlstate(sqlstate_);
  // A conflict's text reaches clients (HTTP 409), and PostgreSQL's names constraints, tables and
  // columns: conflicts get the same fixed texts as on SQLite (sqlite::to_error).
  if (code == core::ErrorCode::conflict)
    return core::Error::conflict(
        sqlstate_ == "23503" ? fmt::format("store: {}: what it refers to does not exist", what)
                             : fmt::format("store: {}: it exists already", what));
  return core::Error::of(code, fmt::format("store: {}: {}{}", what, msg,
                                           sqlstate_.empty() ? "" : " (" + sqlstate_ + ")"));
}

core::Error Conn::fail_conn(std::string_view what) {
  sqlstate_.clear();
  failure_ = Failure::connection;
  std::string msg = c_ != nullptr ? trimmed(PQerrorMessage(c_)) : "not connected";
  return core::Error::unavailable(fmt::format("store: {}: PostgreSQL connection: {}", what, msg));
}

core::Result<Rows> Conn::exec(const std::string& sql, const Params& params, std::string_view what) {
  if (c_ == nullptr) return fail_conn(what);
  auto ptrs = params.pointers();
  const int n = static_cast<int>(ptrs.size());
  auto named = statement_for(sql, n, what);
  if (!named) return named.error();
  const std::string* name = *named;
  PGresult* r = name != nullptr
                    ? PQexecPrepared(c_, name->c_str(), n, ptrs.data(), nullptr, nullptr, 0)
                    : PQexecParams(c_, sql.c_str(), n, nullptr, ptrs.data(), nullptr, nullptr, 0);
  if (r == nullptr) return fail_conn(what);
  if (name != nullptr && PQresultStatus(r) == PGRES_FATAL_ERROR && statement_gone(r)) {
    PQclear(r);
    r = PQexecParams(c_, sql.c_str(), n, nullptr, ptrs.data(), nullptr, nullptr, 0);
    if (r == nullptr) return fail_conn(what);
  }
  const auto st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    used(sql);
    ok();
    return Rows(r);
  }
  core::Error e = fail(r, what);
  PQclear(r);
  return e;
}

core::Result<void> Conn::exec_script(const std::string& sql, std::string_view what) {
  if (c_ == nullptr) return fail_conn(what);
  // PQexec returns the last statement's result; an error stops the script there.
  PGresult* r = PQexec(c_, sql.c_str());
  if (r == nullptr) return fail_conn(what);
  const auto st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    PQclear(r);
    ok();
    return core::ok();
  }
  core::Error e = fail(r, what);
  PQclear(r);
  return e;
}

core::Result<void> Conn::copy_begin(const std::string& sql, std::string_view what) {
  if (c_ == nullptr) return fail_conn(what);
  PGresult* r = PQexec(c_, sql.c_str());
  if (r == nullptr) return fail_conn(what);
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    core::Error e = fail(r, what);
    PQclear(r);
    return e;
  }
  PQclear(r);
  ok();
  return core::ok();
}

core::Result<void> Conn::copy_put(std::string_view data, std::string_view what) {
  if (c_ == nullptr) return fail_conn(what);
  // Blocking connection: 1 = queued, -1 = failed (0 only in non-blocking mode).
  if (PQputCopyData(c_, data.data(), static_cast<int>(data.size())) != 1) return fail_conn(what);
  return core::ok();
}

core::Result<int64_t> Conn::copy_end(std::string_view what, const char* abort) {
  if (c_ == nullptr) return fail_conn(what);
  if (PQputCopyEnd(c_, abort) != 1) return fail_conn(what);
  core::Result<int64_t> out = int64_t{0};
  bool failed = false;
  while (PGresult* r = PQgetResult(c_)) {
    if (!failed && PQresultStatus(r) != PGRES_COMMAND_OK) {
      out = fail(r, what);
      failed = true;
    } else if (!failed) {
      out = Rows(r).affected();
      continue;  // Rows cleared it
    }
    PQclear(r);
  }
  if (!failed) ok();
  return out;
}

core::Result<std::vector<Rows>> Conn::pipeline(const std::vector<Stmt>& stmts,
                                               std::string_view what) {
  auto r = run_pipeline(stmts, what, true);
  // A prepared statement vanished (26000) outside a transaction: the batch was one implicit
  // transaction and rolled back whole, so it is sent again, unnamed.
  if (!r && failure_ == Failure::statement_gone && c_ != nullptr &&
      PQtransactionStatus(c_) == PQTRANS_IDLE)
    r = run_pipeline(stmts, what, false);
  return r;
}

core::Result<std::vector<Rows>> Conn::run_pipeline(const std::vector<Stmt>& stmts,
                                                   std::string_view what, bool named) {
  std::vector<Rows> out;
  if (stmts.empty()) {
    ok();
    return out;
  }
  if (c_ == nullptr) return fail_conn(what);
  // Prepared before the pipeline starts (a blocking round trip, once per text and connection).
  std::vector<const std::string*> names(stmts.size(), nullptr);
  if (named)
    for (size_t i = 0; i < stmts.size(); ++i) {
      auto n = statement_for(stmts[i].sql, static_cast<int>(stmts[i].params.size()), what);
      if (!n) return n.error();
      names[i] = *n;
    }
  // Non-blocking: the output buffer grows instead of blocking while the server's results
  // pile up unread (the deadlock libpq's documentation warns about).
  if (PQsetnonblocking(c_, 1) != 0 || PQenterPipelineMode(c_) != 1) {
    PQsetnonblocking(c_, 0);
    return fail_conn(what);
  }
  struct Restore {
    PGconn*& c;  // null once the connection was given up
    ~Restore() {
      if (c == nullptr) return;
      // Results left unread (an early return): the connection is out of step; drop it (the
      // pool replaces broken connections).
      if (PQpipelineStatus(c) != PQ_PIPELINE_OFF && PQexitPipelineMode(c) != 1) {
        PQfinish(c);
        c = nullptr;
        return;
      }
      PQsetnonblocking(c, 0);
    }
  } restore{c_};

  for (size_t i = 0; i < stmts.size(); ++i) {
    const auto& s = stmts[i];
    auto ptrs = s.params.pointers();
    const int n = static_cast<int>(ptrs.size());
    const int sent =
        names[i] != nullptr
            ? PQsendQueryPrepared(c_, names[i]->c_str(), n, ptrs.data(), nullptr, nullptr, 0)
            : PQsendQueryParams(c_, s.sql.c_str(), n, nullptr, ptrs.data(), nullptr, nullptr, 0);
    if (sent != 1) return fail_conn(what);
  }
  if (PQpipelineSync(c_) != 1) return fail_conn(what);

  std::optional<core::Error> first_error;
  size_t done = 0;         // statements whose results are complete
  bool in_result = false;  // a result of statement `done` was read, its NULL not yet
  bool synced = false;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kPipelineTimeoutMs);
  while (!synced) {
    const int f = PQflush(c_);
    if (f < 0) return fail_conn(what);
    if (PQconsumeInput(c_) != 1) return fail_conn(what);
    while (!synced && PQisBusy(c_) == 0) {
      PGresult* r = PQgetResult(c_);
      if (r == nullptr) {
        if (!in_result) break;  // nothing more has arrived yet
        in_result = false;
        ++done;
        continue;
      }
      const auto st = PQresultStatus(r);
      if (st == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        synced = true;
        break;
      }
      in_result = true;
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        out.emplace_back(r);
      } else if (st == PGRES_PIPELINE_ABORTED) {
        PQclear(r);  // skipped after an earlier error
      } else {
        if (!first_error) {
          first_error =
              fail(r, fmt::format("{} (statement {} of {})", what, done + 1, stmts.size()));
          if (failure_ == Failure::statement_gone) forget_statements();
        }
        PQclear(r);
      }
    }
    if (synced) break;
    if (std::chrono::steady_clock::now() > deadline) {
      // The server stopped answering: this connection cannot be trusted any more.
      PQfinish(c_);
      c_ = nullptr;
      return fail_conn(what);
    }
    pollfd p{PQsocket(c_), static_cast<short>(POLLIN | (f == 1 ? POLLOUT : 0)), 0};
    if (p.fd < 0) return fail_conn(what);
    ::poll(&p, 1, 1000);
  }
  if (first_error) return *first_error;
  if (out.size() != stmts.size()) {
    failure_ = Failure::other;
    return core::Error::internal(
        fmt::format("store: {}: {} results for {} statements", what, out.size(), stmts.size()));
  }
  for (const auto& s : stmts) used(s.sql);
  ok();
  return out;
}

// --- Txn ---

Txn::~Txn() {
  if (open_ && !c_.broken()) {
    PGresult* r = PQexec(c_.get(), "ROLLBACK");
    if (r != nullptr) PQclear(r);
  }
}

core::Result<void> Txn::begin(Isolation iso) {
  const char* sql = iso == Isolation::serializable      ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                    : iso == Isolation::repeatable_read ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
                                                        : "BEGIN";
  auto r = c_.exec(sql, "begin transaction");
  if (!r) return r.error();
  open_ = true;
  commit_sent_ = false;
  return core::ok();
}

core::Result<void> Txn::commit() {
  commit_sent_ = true;
  auto r = c_.exec("COMMIT", "commit");
  if (!r) {
    if (c_.broken()) open_ = false;
    return r.error();
  }
  open_ = false;
  // COMMIT of a transaction an earlier statement aborted answers "ROLLBACK", not an error.
  const char* status = PQcmdStatus(r->get());
  if (status != nullptr && std::string_view(status) == "ROLLBACK")
    return core::Error::internal("store: commit: the transaction had failed and was rolled back");
  return core::ok();
}

}  // namespace tern::store::pg
