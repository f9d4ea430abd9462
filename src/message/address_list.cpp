#include "message/address_list.hpp"

namespace tern::message {

namespace {

enum class Tok { atom, quoted, literal, special, end };

struct Token {
  Tok kind = Tok::end;
  std::string text;  // atom text; quoted: decoded content; literal: "[...]"; special: the char
  std::string raw;   // quoted: with quotes and escapes, as written
};

bool atext(unsigned char c) {
  if (c >= 0x80) return true;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  bool bad() const { return bad_; }

  Token next() {
    skip_cfws();
    Token t;
    if (bad_ || i_ >= s_.size()) return t;
    unsigned char c = static_cast<unsigned char>(s_[i_]);
    if (c == '"') return quoted();
    if (c == '[') return literal();
    if (atext(c)) {
      t.kind = Tok::atom;
      while (i_ < s_.size() && atext(static_cast<unsigned char>(s_[i_]))) t.text += s_[i_++];
      return t;
    }
    if (std::string_view("<>,:;@.").find(static_cast<char>(c)) != std::string_view::npos) {
      t.kind = Tok::special;
      t.text = std::string(1, s_[i_++]);
      return t;
    }
    bad_ = true;  // control characters, stray ')' '\\' ']'
    return t;
  }

 private:
  void skip_cfws() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++i_;
      } else if (c == '(') {
        int depth = 0;
        while (i_ < s_.size()) {
          char d = s_[i_++];
          if (d == '\\') {
            if (i_ >= s_.size()) break;
            ++i_;
          } else if (d == '(') {
            ++depth;
          } else if (d == ')') {
            if (--depth == 0) break;
          }
        }
        if (depth != 0) {
          bad_ = true;
          return;
        }
      } else {
        return;
      }
    }
  }
  Token quoted() {
    Token t;
    t.kind = Tok::quoted;
    t.raw += s_[i_++];
    while (i_ < s_.size()) {
      char c = s_[i_++];
      t.raw += c;
      if (c == '"') return t;
      if (c == '\\') {
        if (i_ >= s_.size()) break;
        t.raw += s_[i_];
        t.text += s_[i_++];
        continue;
      }
      if (c == '\r' || c == '\n') continue;  // folding inside a quoted string
      t.text += c;
    }
    bad_ = true;
    return t;
  }
  Token literal() {
    Token t;
    t.kind = Tok::literal;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      t.text += c;
      if (c == ']') return t;
    }
    bad_ = true;
    return t;
  }

  std::string_view s_;
  size_t i_ = 0;
  bool bad_ = false;
};

class Parser {
 public:
  explicit Parser(std::string_view s) : lex_(s) { advance(); }

  std::optional<std::vector<NamedMailbox>> list() {
    std::vector<NamedMailbox> out;
    while (true) {
      if (is(",")) {
        advance();
        continue;
      }  // obs: empty list elements
      if (cur_.kind == Tok::end) break;
      if (!address(out, /*in_group=*/false)) return std::nullopt;
      if (cur_.kind == Tok::end) break;
      if (!is(",")) return std::nullopt;
    }
    if (lex_.bad()) return std::nullopt;
    return out;
  }

 private:
  bool is(const char* sp) const { return cur_.kind == Tok::special && cur_.text == sp; }
  void advance() { cur_ = lex_.next(); }
  bool word() const { return cur_.kind == Tok::atom || cur_.kind == Tok::quoted; }

  // address = mailbox / group. Reads words first, then decides by what follows them.
  bool address(std::vector<NamedMailbox>& out, bool in_group) {
    std::vector<Token> words;  // phrase or local part (with "." tokens kept)
    while (word() || is(".")) {
      words.push_back(cur_);
      advance();
      if (lex_.bad()) return false;
    }
    if (is("<")) {
      advance();
      NamedMailbox nm;
      nm.display_name = phrase(words);
      if (is("@")) {  // obs-route: skip "@a,@b:" up to the colon
        while (cur_.kind != Tok::end && !is(":")) advance();
        if (!is(":")) return false;
        advance();
      }
      std::vector<Token> local;
      while (word() || is(".")) {
        local.push_back(cur_);
        advance();
      }
      if (!is("@")) return false;
      advance();
      auto mb = addr_spec(local);
      if (!mb) return false;
      if (!is(">")) return false;
      advance();
      nm.mailbox = *mb;
      out.push_back(std::move(nm));
      return true;
    }
    if (is(":")) {
      if (in_group || words.empty()) return false;  // groups do not nest
      advance();
      while (true) {
        if (is(",")) {
          advance();
          continue;
        }
        if (is(";")) {
          advance();
          return true;
        }
        if (cur_.kind == Tok::end) return false;
        if (!address(out, /*in_group=*/true)) return false;
        if (!is(",") && !is(";")) return false;
      }
    }
    if (is("@")) {
      advance();
      auto mb = addr_spec(words);
      if (!mb) return false;
      out.push_back({"", *mb});
      return true;
    }
    return false;  // a phrase with no address
  }

  // Local part tokens (dot-separated words) have been read and '@' consumed; reads the domain.
  std::optional<core::Mailbox> addr_spec(const std::vector<Token>& local_toks) {
    if (local_toks.empty()) return std::nullopt;
    std::string local;
    bool expect_word = true;
    for (const auto& t : local_toks) {
      if (t.kind == Tok::special) {
        if (expect_word) return std::nullopt;
        local += '.';
      } else {
        if (!expect_word) return std::nullopt;
        local += t.kind == Tok::quoted ? t.raw : t.text;
      }
      expect_word = !expect_word;
    }
    if (expect_word) return std::nullopt;
    std::string domain;
    if (cur_.kind == Tok::literal) {
      domain = cur_.text;
      advance();
    } else {
      expect_word = true;
      while (cur_.kind == Tok::atom || is(".")) {
        bool dot = cur_.kind == Tok::special;
        if (dot == expect_word) return std::nullopt;
        domain += dot ? "." : cur_.text;
        expect_word = !expect_word;
        advance();
      }
      if (expect_word) return std::nullopt;
    }
    return core::parse_mailbox(local + "@" + domain);
  }

  static std::string phrase(const std::vector<Token>& words) {
    std::string p;
    for (const auto& t : words) {
      if (t.kind == Tok::special) {
        p += '.';
        continue;
      }  // obs-phrase allows "."
      if (!p.empty() && p.back() != '.') p += ' ';
      p += t.text;
    }
    return p;
  }

  Lexer lex_;
  Token cur_;
};

}  // namespace

std::optional<std::vector<NamedMailbox>> parse_address_list(std::string_view value) {
  return Parser(value).list();
}

}  // namespace tern::message
