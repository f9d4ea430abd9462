#include "queue/envelope_scan.hpp"

#include <algorithm>
#include <limits>

#include "queue/envelope.hpp"

namespace tern::queue {

namespace {

// A cursor over compact JSON that gives up (ok = false) on anything unusual.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool ok = true;

  void ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r'))
      ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return p_ < s_.size() && s_[p_] == c;
  }
  bool at_end() {
    ws();
    return p_ == s_.size();
  }
  // A string of printable ASCII with the simple escapes; decoded length in len, the bytes in
  // out (when given). Anything else: not ok.
  bool string(std::string* out = nullptr, uint64_t* len = nullptr) {
    ws();
    if (p_ >= s_.size() || s_[p_] != '"') return fail();
    ++p_;
    uint64_t n = 0;
    if (out) out->clear();
    while (p_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[p_]);
      if (c == '"') {
        ++p_;
        if (len) *len = n;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return fail();
      char d = static_cast<char>(c);
      if (c == '\\') {
        if (++p_ >= s_.size()) return fail();
        switch (s_[p_]) {
          case '"':
            d = '"';
            break;
          case '\\':
            d = '\\';
            break;
          case '/':
            d = '/';
            break;
          case 'b':
            d = '\b';
            break;
          case 'f':
            d = '\f';
            break;
          case 'n':
            d = '\n';
            break;
          case 'r':
            d = '\r';
            break;
          case 't':
            d = '\t';
            break;
          default:
            return fail();  // \u and the rest: the full decoder decides
        }
      }
      if (out) out->push_back(d);
      ++n;
      ++p_;
    }
    return fail();
  }
  // -?[0-9]+ without leading zeros, in int64 range.
  bool integer(int64_t& v) {
    ws();
    size_t q = p_;
    bool neg = false;
    if (q < s_.size() && s_[q] == '-') {
      neg = true;
      ++q;
    }
    const size_t digits = q;
    uint64_t mag = 0;
    while (q < s_.size() && s_[q] >= '0' && s_[q] <= '9') {
      if (mag > (std::numeric_limits<uint64_t>::max() - 9) / 10) return fail();
      mag = mag * 10 + static_cast<uint64_t>(s_[q] - '0');
      ++q;
    }
    if (q == digits || (q - digits > 1 && s_[digits] == '0')) return fail();
    if (q < s_.size() && (s_[q] == '.' || s_[q] == 'e' || s_[q] == 'E')) return fail();
    if (neg ? mag > uint64_t{1} << 63 : mag > uint64_t(std::numeric_limits<int64_t>::max()))
      return fail();
    v = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
    p_ = q;
    return true;
  }
  bool boolean(bool& b) {
    ws();
    if (s_.substr(p_, 4) == "true") {
      p_ += 4;
      b = true;
      return true;
    }
    if (s_.substr(p_, 5) == "false") {
      p_ += 5;
      b = false;
      return true;
    }
    return fail();
  }
  // Skips any value (depth-limited).
  bool skip(int depth = 0) {
    if (depth > 8) return fail();
    ws();
    if (p_ >= s_.size()) return fail();
    const char c = s_[p_];
    if (c == '"') return string();
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++p_;
      if (eat(close)) return true;
      do {
        if (c == '{') {
          if (!string() || !eat(':')) return fail();
        }
        if (!skip(depth + 1)) return false;
      } while (eat(','));
      return eat(close) || fail();
    }
    if (c == 't' || c == 'f') {
      bool b;
      return boolean(b);
    }
    if (s_.substr(p_, 4) == "null") {
      p_ += 4;
      return true;
    }
    int64_t v;
    return integer(v);
  }
  // Iterates an object's members: f(key) must consume the value.
  template <class F>
  bool object(F f) {
    if (!eat('{')) return fail();
    if (eat('}')) return true;
    std::string key;
    do {
      if (!string(&key) || !eat(':')) return fail();
      if (!f(key) || !ok) return fail();
    } while (eat(','));
    return eat('}') || fail();
  }
  template <class F>
  bool array(F f) {
    if (!eat('[')) return fail();
    if (eat(']')) return true;
    do {
      if (!f() || !ok) return fail();
    } while (eat(','));
    return eat(']') || fail();
  }

 private:
  bool fail() {
    ok = false;
    return false;
  }
  std::string_view s_;
  size_t p_ = 0;
};

// recipients: [{"address": s, "state": s, "attempts": i, "next_attempt_ms": i,
// "last_reply": s, "first_attempt_ms": i}, ...] → the earliest due time of those not final.
bool recipients_due(Cursor& c, int64_t& due) {
  due = std::numeric_limits<int64_t>::max();
  return c.array([&] {
    bool has_address = false;
    RcptState st = RcptState::pending;
    int64_t next = 0;
    bool ok = c.object([&](const std::string& k) {
      if (k == "address") {
        has_address = true;
        return c.string();
      }
      if (k == "state") {
        std::string v;
        return c.string(&v) && parse_rcpt_state(v, st);
      }
      if (k == "attempts") {
        int64_t a;
        // from_json reads it as an int: outside int's range is the full decoder's question.
        return c.integer(a) && a >= 0 && a <= std::numeric_limits<int>::max();
      }
      if (k == "next_attempt_ms") return c.integer(next) && next >= 0;
      if (k == "last_reply") return c.string();
      if (k == "first_attempt_ms") {
        int64_t v;
        return c.integer(v) && v >= 0;
      }
      return c.skip();
    });
    if (!ok || !has_address) return false;
    if (!is_final(st)) due = std::min(due, std::max<int64_t>(0, next));
    return true;
  });
}

}  // namespace

bool scan_commit(std::string_view payload, CommitScan& out) {
  Cursor c(payload);
  out = CommitScan{};
  bool have_env = false, have_hash = false, have_records = false;
  bool ok = c.object([&](const std::string& k) {
    if (k == "content_blake2b") {
      have_hash = true;
      return c.string(&out.content_hash);
    }
    if (k == "data_records") {
      int64_t v;
      have_records = true;
      if (!c.integer(v) || v < 0) return false;
      out.data_records = static_cast<uint64_t>(v);
      return true;
    }
    if (k != "envelope") return c.skip();
    have_env = true;
    // A repeated "envelope" counts whole, last (as in the full decoder): start afresh.
    out.id.clear();
    out.account_id = out.received_ms = 0;
    out.held = false;
    bool have_id = false, have_rcpts = false;
    int64_t size = 0;
    uint64_t prepend = 0;
    out.due_ms = std::numeric_limits<int64_t>::max();
    bool env_ok = c.object([&](const std::string& f) {
      if (f == "id") {
        have_id = true;
        return c.string(&out.id);
      }
      if (f == "account_id") return c.integer(out.account_id) && out.account_id >= 0;
      if (f == "received_ms") return c.integer(out.received_ms) && out.received_ms >= 0;
      if (f == "held") return c.boolean(out.held);
      if (f == "smtputf8" || f == "eightbit") {
        bool b;
        return c.boolean(b);
      }
      if (f == "account" || f == "sender" || f == "client_ip" || f == "helo" || f == "message_id" ||
          f == "header_from" || f == "subject")
        return c.string();
      if (f == "prepend") return c.string(nullptr, &prepend);
      if (f == "size") return c.integer(size) && size >= 0;
      if (f == "recipients") {
        have_rcpts = true;
        return recipients_due(c, out.due_ms);
      }
      return c.skip();  // options (any JSON) and keys the decoder does not know
    });
    if (!env_ok || !have_id) return false;
    if (!have_rcpts) out.due_ms = std::numeric_limits<int64_t>::max();
    out.content_size =
        static_cast<uint64_t>(size) >= prepend ? static_cast<uint64_t>(size) - prepend : 0;
    return true;
  });
  return ok && c.ok && c.at_end() && have_env && have_hash && have_records;
}

bool scan_state(std::string_view payload, bool held, StateScan& out) {
  Cursor c(payload);
  out = StateScan{};
  out.held = held;
  bool have_rcpts = false;
  bool ok = c.object([&](const std::string& k) {
    if (k == "recipients") {
      have_rcpts = true;
      return recipients_due(c, out.due_ms);
    }
    if (k == "held") return c.boolean(out.held);
    return c.skip();
  });
  return ok && c.ok && c.at_end() && have_rcpts;
}

}  // namespace tern::queue
