// sign(): builds, signs and folds the DKIM-Signature field (RFC 6376 §3.5, §3.7, §5.4).
//
// The field is laid out once, up to and including "b=", and that exact text (relaxed, without
// its CRLF) ends the signed data; the signature is then appended after "b=", folded freely:
// verifiers delete the b= value with the white space in it (§3.7), so only the text before it
// must match what was signed. Lines are folded at 78 columns (RFC 5322 §2.1.1), between tags,
// between h= names (FWS is allowed around ':', §3.5) and anywhere in b=.
#include "dkim/signer.hpp"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "dkim/relaxed.hpp"

namespace tern::dkim {

const std::vector<std::string> kSignedHeaders = {
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
};

namespace {

constexpr size_t kMaxLine = 78;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The field name of a raw field without surrounding white space (case kept).
std::string_view field_name(std::string_view raw) {
  std::string_view name = raw.substr(0, raw.find(':'));
  while (!name.empty() && is_fws(name.front())) name.remove_prefix(1);
  while (!name.empty() && is_fws(name.back())) name.remove_suffix(1);
  return name;
}

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool safe_token(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

bool base64_chars(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
  });
}

// Appends pieces to a header field, folding before a piece that would pass kMaxLine.
class Folder {
 public:
  explicit Folder(std::string_view start) : out_(start), col_(start.size()) { out_.reserve(640); }
  // parts: the piece, in parts (no temporary string). space: the piece is separated from the
  // previous one by a SP when on the same line. room: columns that must remain free after the
  // piece on its line.
  void piece(std::initializer_list<std::string_view> parts, bool space, size_t room = 0) {
    size_t len = 0;
    for (auto p : parts) len += p.size();
    const size_t need = len + (space ? 1 : 0) + room;
    if (col_ + need > kMaxLine && col_ > 1) {
      out_ += "\r\n ";
      col_ = 1;
    } else if (space) {
      out_ += ' ';
      ++col_;
    }
    for (auto p : parts) out_ += p;
    col_ += len;
  }
  // Free-form text that may be broken anywhere (a base64 value).
  void breakable(std::string_view text) {
    while (!text.empty()) {
      if (col_ >= kMaxLine) {
        out_ += "\r\n ";
        col_ = 1;
      }
      const size_t n = std::min(text.size(), kMaxLine - col_);
      out_.append(text.substr(0, n));
      col_ += n;
      text.remove_prefix(n);
    }
  }
  size_t column() const { return col_; }
  std::string& str() { return out_; }

 private:
  std::string out_;
  size_t col_;
};

}  // namespace

std::string signing_input(const std::vector<std::string>& header_fields,
                          const std::vector<std::string>& h_names,
                          std::string_view dkim_signature_field) {
  std::vector<std::string_view> names;
  names.reserve(header_fields.size());
  size_t total = dkim_signature_field.size() + 2;
  for (const auto& f : header_fields) {
    names.push_back(field_name(f));
    total += f.size() + 2;
  }
  std::vector<bool> taken(header_fields.size(), false);

  std::string out;
  out.reserve(total);
  for (const auto& h : h_names) {
    const std::string_view want = field_name(h);
    for (size_t j = header_fields.size(); j-- > 0;) {
      if (!taken[j] && same_name(names[j], want)) {
        taken[j] = true;
        detail::append_relaxed_header(out, header_fields[j]);
        break;
      }
    }
  }
  detail::append_relaxed_header(out, dkim_signature_field);
  out.resize(out.size() - 2);  // the signed data ends without the field's CRLF
  return out;
}

std::string sign(const SignRequest& r) {
  if (r.key == nullptr || !safe_token(r.domain) || !safe_token(r.selector) ||
      !base64_chars(r.body_hash_b64))
    return {};

  // h=: every instance of each listed name, From once more than it occurs (§5.4, §8.15).
  // Each field's place in kSignedHeaders is looked up once; the signed data is then built
  // straight from it, which is what signing_input() does for these h= names (instances
  // bottom-up; the extra "from" selects nothing) without comparing names again.
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<size_t> slot(r.header_fields.size(), kNone);
  std::vector<size_t> count(kSignedHeaders.size(), 0);
  for (size_t j = 0; j < r.header_fields.size(); ++j) {
    const std::string_view name = field_name(r.header_fields[j]);
    for (size_t k = 0; k < kSignedHeaders.size(); ++k) {
      if (same_name(name, kSignedHeaders[k])) {
        slot[j] = k;
        ++count[k];
        break;
      }
    }
  }
  for (size_t k = 0; k < kSignedHeaders.size(); ++k)
    if (kSignedHeaders[k] == "from") ++count[k];  // over-signed: once more than present
  size_t total_names = 0;
  size_t input_size = 512;
  for (size_t k = 0; k < count.size(); ++k) total_names += count[k];
  for (const auto& field : r.header_fields) input_size += field.size();

  Folder f("DKIM-Signature:");
  f.piece({"v=1;"}, true);
  f.piece({r.key->algorithm() == Algorithm::rsa_sha256 ? "a=rsa-sha256;" : "a=ed25519-sha256;"},
          true);
  f.piece({"c=relaxed/relaxed;"}, true);
  f.piece({"d=", r.domain, ";"}, true);
  f.piece({"s=", r.selector, ";"}, true);
  if (r.timestamp > 0) f.piece({"t=", std::to_string(r.timestamp), ";"}, true);
  size_t listed = 0;
  for (size_t k = 0; k < count.size(); ++k) {
    for (size_t i = 0; i < count[k]; ++i, ++listed) {
      const bool first = listed == 0;
      f.piece({first ? "h=" : "", kSignedHeaders[k], listed + 1 == total_names ? ";" : ":"}, first);
    }
  }
  f.piece({"bh=", r.body_hash_b64, ";"}, true);
  f.piece({"b="}, true, 8);  // on a new line unless 8 characters of the signature fit after it

  std::string input;
  input.reserve(input_size + f.str().size());
  for (size_t k = 0; k < count.size(); ++k)
    for (size_t j = r.header_fields.size(); j-- > 0;)
      if (slot[j] == k) detail::append_relaxed_header(input, r.header_fields[j]);
  detail::append_relaxed_header(input, f.str());
  input.resize(input.size() - 2);  // the signed data ends without the field's CRLF
  const std::string signature = r.key->sign(input);
  if (signature.empty()) return {};
  f.breakable(core::base64_encode(signature));
  f.str() += "\r\n";
  return std::move(f.str());
}

}  // namespace tern::dkim
