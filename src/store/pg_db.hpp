// Thin RAII layer over libpq, shaped like sqlite_db.hpp: a connection, statement parameters,
// results, transactions, pipelined batches, COPY FROM STDIN, and the mapping of SQLSTATEs onto
// core::Error.
//
// Invariants:
//  - Parameters always go out of band (never spliced into SQL text), in text format. A
//    statement text is sent unnamed (PQexecParams) on its first successful use and prepared
//    (a named statement of this connection, parsed and planned once) from its second use on:
//    the server's parse and plan work is paid once per connection, not per call. At most
//    kMaxPrepared texts per connection; multi-statement texts are never prepared. A name is
//    "tern_" + a random tag of this connection + a hash of the text: no other connection
//    (through a pooler, no other client) uses it. A prepare that fails inside a transaction
//    fails the statement with its own error (the failed Parse aborted the transaction); outside
//    one the statement is sent unnamed. A named statement the server does not know (26000:
//    DEALLOCATE, or a pooler in transaction mode that moved the session), or whose plan went
//    stale (0A000 "cached plan must not change result type": another node's migration changed
//    a column's type), forgets every name of this connection (new names from then on);
//    outside a transaction the call is sent again unnamed at once, inside one it fails as
//    temporary (Failure::statement_gone) and Pool::transact runs the transaction again.
//    Transaction-mode poolers that do not keep named statements (pgbouncer before 1.21)
//    are not supported (docs/cluster.md).
//  - PostgreSQL text holds UTF-8 without NUL bytes. A text parameter that is not (a NUL, a
//    byte that is not part of well-formed UTF-8: a remote server's reply, a raw header) is
//    sent with U+FFFD in place of each such byte (storable_text): the row is kept, readable
//    and valid for JSON, never cut at the NUL as a C string would be, never refused. Every
//    key Tern looks rows up by (names, addresses, ids, hashes) is validated UTF-8 before it
//    gets here, so the replacement only ever touches free text.
//  - A Txn that was not committed rolls back when it goes out of scope.
//  - After a failed call, failure() says whether a retry may succeed: serialization failures
//    (40001), deadlocks (40P01) and lost connections are temporary (code unavailable); a
//    unique violation (23505) is a conflict; data errors (22xxx, 23502, 23514) are invalid.
//  - A Conn is used by one thread at a time (the Pool hands it out).
#pragma once
#include <libpq-fe.h>

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/result.hpp"

namespace tern::store::pg {

// What a failed call means for retrying it.
enum class Failure : uint8_t {
  none,            // the last call succeeded
  serialization,   // 40001: retry the whole transaction
  deadlock,        // 40P01: retry the whole transaction
  connection,      // the connection is lost or was never open: retry on another
  statement_gone,  // 26000 (vanished) or a stale plan: nothing ran, retry the transaction
  other,           // retrying the same thing fails the same way
};

core::ErrorCode code_for_sqlstate(std::string_view sqlstate);

// s as PostgreSQL text can hold it: unchanged when it is well-formed UTF-8 without NUL,
// else with U+FFFD in place of every NUL and every byte outside a well-formed sequence.
std::string storable_text(std::string_view s);
Failure failure_for_sqlstate(std::string_view sqlstate);

// Statement parameters, all sent as text ($1, $2, ... in the order added).
class Params {
 public:
  Params() = default;
  template <class... A>
  static Params of(const A&... a) {
    Params p;
    (p.add(a), ...);
    return p;
  }
  Params& add(std::string_view v);
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  template <std::integral I>
  Params& add(I v) {
    values_.push_back(std::to_string(static_cast<int64_t>(v)));
    null_.push_back(false);
    return *this;
  }
  Params& add_null();
  size_t size() const { return values_.size(); }
  // Pointers for libpq, valid while this Params lives and is not changed.
  std::vector<const char*> pointers() const;

 private:
  std::vector<std::string> values_;
  std::vector<bool> null_;
};

// The rows (or the command status) of one statement.
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* r) : r_(r) {}
  ~Rows();
  Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Rows& operator=(Rows&& o) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const { return r_ != nullptr ? PQntuples(r_) : 0; }
  bool empty() const { return size() == 0; }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string_view view(int row, int col) const;
  std::string text(int row, int col) const { return std::string(view(row, col)); }
  // 0 for NULL; a text that is not an integer is 0 too (columns read with it are bigint).
  int64_t int64(int row, int col) const;
  // Rows an INSERT/UPDATE/DELETE changed.
  int64_t affected() const;
  PGresult* get() const { return r_; }

  // Row `row`'s columns 0, 1, 2, ... into the fields given, in that order, each read as its
  // type asks (int64_t: int64(), std::string: text()), so a row mapper lists its SELECT's
  // columns once: `r.read(i, c.id, c.name, c.created_ms)`.
  template <class... F>
  void read(int row, F&... fields) const {
    int col = 0;
    (read_one(row, col++, fields), ...);
  }

 private:
  void read_one(int row, int col, int64_t& v) const { v = int64(row, col); }
  void read_one(int row, int col, std::string& v) const { v = text(row, col); }
  PGresult* r_ = nullptr;
};

// Named prepared statements per connection, at most this many texts.
constexpr size_t kMaxPrepared = 256;

// The name a statement text is prepared under on the connection tagged `tag`:
// "tern_<tag>_" + 32 hex digits of the text's BLAKE2b-128.
std::string statement_name(std::string_view tag, std::string_view sql);

// One statement of a pipelined batch.
struct Stmt {
  std::string sql;
  Params params;
};

class Conn {
 public:
  Conn() = default;
  ~Conn();
  Conn(Conn&& o) noexcept;
  Conn& operator=(Conn&& o) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // `url` is a libpq URI ("postgres://user@host:port/db?...") or "key=value ..." string.
  // Defaults (overridden by the url): application_name=tern, connect_timeout=5, TCP
  // keepalives so a vanished server is noticed within ~15 s.
  static core::Result<Conn> connect(const std::string& url);

  PGconn* get() const { return c_; }
  bool broken() const { return c_ == nullptr || PQstatus(c_) != CONNECTION_OK; }

  core::Result<Rows> exec(const std::string& sql, const Params& params, std::string_view what);
  core::Result<Rows> exec(const std::string& sql, std::string_view what) {
    return exec(sql, Params{}, what);
  }
  // Several statements without parameters in one round trip (migrations); implicit
  // transaction unless the text has its own BEGIN/COMMIT.
  core::Result<void> exec_script(const std::string& sql, std::string_view what);
  // Sends every statement before reading any result (libpq pipeline mode), then one sync.
  // Outside a transaction the batch is one implicit transaction: all or nothing. Returns each
  // statement's rows, in order, or the first error (the rest were skipped).
  core::Result<std::vector<Rows>> pipeline(const std::vector<Stmt>& stmts, std::string_view what);
  // COPY ... FROM STDIN: copy_begin sends the statement, copy_put streams data in the COPY
  // format the statement names (any chunking), copy_end finishes it and reports the outcome
  // (rows copied). Every copy_begin that succeeded needs its copy_end; one with `abort` set
  // cancels the COPY (the statement fails with that text, the transaction is aborted).
  core::Result<void> copy_begin(const std::string& sql, std::string_view what);
  core::Result<void> copy_put(std::string_view data, std::string_view what);
  core::Result<int64_t> copy_end(std::string_view what, const char* abort = nullptr);

  // Why the last call failed (none after a success).
  Failure failure() const { return failure_; }
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  core::Error fail(const PGresult* r, std::string_view what);
  core::Error fail_conn(std::string_view what);
  void ok() {
    failure_ = Failure::none;
    sqlstate_.clear();
  }
  // The name to send sql under, preparing it now on its second use; nullptr: send unnamed. An
  // error: the prepare failed inside a transaction (which it aborted).
  core::Result<const std::string*> statement_for(const std::string& sql, int nparams,
                                                 std::string_view what);
  // sql ran: the next use may prepare it.
  void used(const std::string& sql);
  // 26000 or a stale plan in r: forget every name; true when the caller may send the call
  // again unnamed (no transaction is open).
  bool statement_gone(const PGresult* r);
  void forget_statements();  // every prepared name; later ones under a new tag
  core::Result<std::vector<Rows>> run_pipeline(const std::vector<Stmt>& stmts,
                                               std::string_view what, bool named);

  PGconn* c_ = nullptr;
  Failure failure_ = Failure::none;
  std::string sqlstate_;
  std::unordered_map<std::string, std::string> prepared_;  // text -> name
  std::unordered_set<std::string> seen_;                   // texts run once, not prepared yet
  std::string tag_;  // random, this connection's, in its statement names (set at first prepare)
};

class Txn {
 public:
  enum class Isolation { read_committed, repeatable_read, serializable };
  explicit Txn(Conn& c) : c_(c) {}
  ~Txn();
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  core::Result<void> begin(Isolation iso = Isolation::read_committed);
  core::Result<void> commit();
  // Whether COMMIT was sent: a lost connection after it leaves the outcome unknown.
  bool commit_sent() const { return commit_sent_; }

 private:
  Conn& c_;
  bool open_ = false;
  bool commit_sent_ = false;
};

}  // namespace tern::store::pg
