// compose(): JSON-ish send request → RFC 5322 message. See compose.hpp for the contract.
#include "message/compose.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/address.hpp"
#include "core/base64.hpp"
#include "core/ids.hpp"
#include "message/date.hpp"
#include "message/header.hpp"

namespace tern::message {

namespace {

using core::Error;

constexpr size_t kMaxDisplayName = 256;
constexpr size_t kMaxSubject = 4096;
constexpr size_t kMaxHeaderValue = 4096;
constexpr size_t kMaxHeaders = 100;
constexpr size_t kMaxFilename = 255;
constexpr size_t kMaxAttachments = 100;
constexpr size_t kPlainLine = 78;  // text lines longer than this are sent quoted-printable

Error bad(const std::string& field, const std::string& why) {
  return Error::perm(field + ": " + why);
}

bool has_crlf_nul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Printable ASCII and space only: may be written into a header as it is.
bool plain(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 32 && u < 127;
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iprefix(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && core::iequals(s.substr(0, p.size()), p);
}

// Header fields Tern writes itself, or that would change how the message is signed, routed or
// parsed: never taken from the request.
bool owned_header(std::string_view n) {
  static const char* const kOwned[] = {"From",     "To",         "Cc",           "Bcc",
                                       "Date",     "Message-ID", "MIME-Version", "DKIM-Signature",
                                       "Received", "Subject",    "Reply-To",     "Return-Path"};
  for (const char* o : kOwned)
    if (core::iequals(n, o)) return true;
  return iprefix(n, "Content-") || iprefix(n, "X-IB-");
}

struct Address {
  std::string name;  // display name, decoded
  core::Mailbox mailbox;
};

// "a@b", "<a@b>", "Name <a@b>" or "\"Name, Jr.\" <a@b>".
std::optional<Address> parse_address(std::string_view v) {
  v = trim(v);
  Address a;
  std::string_view addr = v;
  if (!v.empty() && v.back() == '>') {
    size_t lt = v.rfind('<');
    if (lt == std::string_view::npos) return std::nullopt;
    addr = v.substr(lt + 1, v.size() - lt - 2);
    std::string_view name = trim(v.substr(0, lt));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size()) ++i;
        a.name += name[i];
      }
    } else {
      a.name = std::string(name);
    }
  }
  auto mb = core::parse_mailbox(addr);
  if (!mb) return std::nullopt;
  a.mailbox = std::move(*mb);
  return a;
}

}  // namespace

std::string encode_words(std::string_view s) {
  // 45 bytes → 60 base64 characters: each word is 72 characters, under RFC 2047's 75.
  constexpr size_t kChunk = 45;
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t n = std::min(kChunk, s.size() - pos);
    // Never split a UTF-8 sequence: back off over continuation bytes (10xxxxxx).
    if (pos + n < s.size()) {
      size_t back = n;
      while (back > 0 && (static_cast<unsigned char>(s[pos + back]) & 0xC0) == 0x80) --back;
      if (back > 0) n = back;
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + core::base64_encode(s.substr(pos, n)) + "?=";
    pos += n;
  }
  return out;
}

namespace {

std::string format_address(const Address& a) {
  const std::string addr = a.mailbox.str();
  if (a.name.empty()) return addr;
  if (plain(a.name) && a.name.find("=?") == std::string::npos) {
    std::string q = "\"";
    for (char c : a.name) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\" <" + addr + ">";
  }
  return encode_words(a.name) + " <" + addr + ">";
}

// Unstructured value: as it is when short printable ASCII, else encoded-words.
std::string unstructured(std::string_view v) {
  if (plain(v) && v.size() <= 900 && v.find("=?") == std::string_view::npos) return std::string(v);
  return encode_words(v);
}

// Lone CR or LF → CRLF, so every line break in the output is CRLF.
std::string normalize_newlines(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 32);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += "\r\n";
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else if (s[i] == '\n') {
      out += "\r\n";
    } else {
      out += s[i];
    }
  }
  return out;
}

// 7bit when every line is short printable ASCII (tabs allowed); else quoted-printable.
bool needs_qp(std::string_view s) {
  size_t line = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      ++i;
      line = 0;
      continue;
    }
    if ((u < 32 && s[i] != '\t') || u >= 127) return true;
    if (++line > kPlainLine) return true;
  }
  return false;
}

// RFC 2045 §6.7 on CRLF-normalized text: lines of at most 76 characters, '=' soft breaks,
// whitespace before a line end encoded.
std::string qp_encode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  size_t len = 0;
  auto put = [&](std::string_view t) {
    if (len + t.size() > 75) {
      out += "=\r\n";
      len = 0;
    }
    out += t;
    len += t.size();
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    auto u = static_cast<unsigned char>(c);
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      out += "\r\n";
      len = 0;
      ++i;
      continue;
    }
    const bool line_end =
        i + 1 == s.size() || (s[i + 1] == '\r' && i + 2 < s.size() && s[i + 2] == '\n');
    const bool literal =
        (u >= 33 && u <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end);
    if (literal) {
      char one[1] = {c};
      put(std::string_view(one, 1));
    } else {
      char enc[3] = {'=', kHex[u >> 4], kHex[u & 15]};
      put(std::string_view(enc, 3));
    }
  }
  return out;
}

std::string base64_lines(std::string_view data) {
  const std::string b = core::base64_encode(data);
  std::string out;
  out.reserve(b.size() + b.size() / 76 * 2 + 2);
  for (size_t i = 0; i < b.size(); i += 76) {
    if (i) out += "\r\n";
    out.append(b, i, 76);
  }
  return out;
}

// RFC 2045 token (§5.1): printable ASCII except SPACE and tspecials.
bool is_token(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) return false;
    if (std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos) return false;
  }
  return true;
}

// "type/subtype" with optional "; attr=value" parameters (token or quoted-string values).
// Composite types are refused: an attachment is base64, which RFC 2045 §6.4 forbids for them.
std::optional<std::string> check_content_type(std::string_view ct) {
  size_t semi = ct.find(';');
  std::string_view type = trim(ct.substr(0, semi));
  size_t slash = type.find('/');
  if (slash == std::string_view::npos || !is_token(type.substr(0, slash)) ||
      !is_token(type.substr(slash + 1)))
    return "must be type/subtype";
  if (iprefix(type, "multipart/") || iprefix(type, "message/"))
    return "multipart and message types cannot be attachments";
  std::string_view rest = semi == std::string_view::npos ? std::string_view{} : ct.substr(semi);
  while (!rest.empty()) {
    if (rest.front() != ';') return "bad parameter list";
    rest = trim(rest.substr(1));
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos || !is_token(trim(rest.substr(0, eq)))) return "bad parameter";
    rest = trim(rest.substr(eq + 1));
    size_t end = 0;
    if (!rest.empty() && rest.front() == '"') {
      end = 1;
      while (end < rest.size() && rest[end] != '"') {
        if (rest[end] == '\\') ++end;
        ++end;
      }
      if (end >= rest.size()) return "unterminated quoted parameter value";
      ++end;
      if (!plain(rest.substr(0, end))) return "bad parameter value";
    } else {
      end = rest.find(';');
      if (end == std::string_view::npos) end = rest.size();
      if (!is_token(trim(rest.substr(0, end)))) return "bad parameter value";
    }
    rest = trim(rest.substr(end));
  }
  return std::nullopt;
}

std::string quote(std::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

// RFC 2231 §4 ext-value: UTF-8''percent-encoded (attr-char kept).
std::string rfc2231_value(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "UTF-8''";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    const bool attr =
        std::isalnum(u) || std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos;
    if (attr && u < 128) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

struct Part {
  std::string headers;  // complete fields, each ending in CRLF
  std::string body;     // encoded, no trailing CRLF required
};

Part text_part(std::string_view subtype, std::string_view content) {
  std::string norm = normalize_newlines(content);
  Part p;
  p.headers = "Content-Type: text/" + std::string(subtype) + "; charset=utf-8\r\n";
  if (needs_qp(norm)) {
    p.headers += "Content-Transfer-Encoding: quoted-printable\r\n";
    p.body = qp_encode(norm);
  } else {
    p.headers += "Content-Transfer-Encoding: 7bit\r\n";
    p.body = std::move(norm);
  }
  return p;
}

std::string new_boundary() { return "=_tern_" + core::random_hex(12); }

bool contains_boundary(const std::vector<Part>& parts, const std::string& b) {
  const std::string delim = "--" + b;
  for (const auto& p : parts)
    if (p.body.find(delim) != std::string::npos || p.headers.find(delim) != std::string::npos)
      return true;
  return false;
}

// A multipart entity as one Part (headers: its Content-Type; body: preamble-free parts).
Part multipart(std::string_view subtype, const std::vector<Part>& parts) {
  std::string b = new_boundary();
  for (int tries = 0; contains_boundary(parts, b) && tries < 16; ++tries) b = new_boundary();
  Part m;
  m.headers =
      "Content-Type: multipart/" + std::string(subtype) + ";\r\n boundary=\"" + b + "\"\r\n";
  size_t n = 0;
  for (const auto& p : parts) n += p.headers.size() + p.body.size() + b.size() + 10;
  m.body.reserve(n);
  for (const auto& p : parts) {
    m.body += "--" + b + "\r\n";
    m.body += p.headers;
    m.body += "\r\n";
    m.body += p.body;
    m.body += "\r\n";
  }
  m.body += "--" + b + "--";
  return m;
}

}  // namespace

core::Result<Composed> compose(const ComposeInput& in, const ComposeOptions& opt) {
  // Bound the work before any of it: encoded output is never smaller than a third of the input.
  size_t input_bytes = in.text.size() + in.html.size() + in.subject.size();
  for (const auto& a : in.attachments) input_bytes += a.content.size() + a.filename.size();
  for (const auto& [n, v] : in.headers) input_bytes += n.size() + v.size();
  if (input_bytes > opt.max_bytes * 2) return bad("message", "too large");

  Composed out;
  std::string head = "Date: " + rfc5322_date(opt.now_unix) + "\r\n";

  // From.
  if (in.from.empty()) return bad("from", "is required");
  if (has_crlf_nul(in.from)) return bad("from", "must not contain CR, LF or NUL");
  auto from = parse_address(in.from);
  if (!from) return bad("from", "invalid address");
  if (from->name.size() > kMaxDisplayName) return bad("from", "display name too long");
  out.sender = from->mailbox.str();
  head += "From: " + format_address(*from) + "\r\n";

  if (!in.reply_to.empty()) {
    if (has_crlf_nul(in.reply_to)) return bad("replyTo", "must not contain CR, LF or NUL");
    auto rt = parse_address(in.reply_to);
    if (!rt) return bad("replyTo", "invalid address");
    if (rt->name.size() > kMaxDisplayName) return bad("replyTo", "display name too long");
    head += "Reply-To: " + format_address(*rt) + "\r\n";
  }

  // Recipients: every list checked, then deduplicated across lists in order.
  if (in.to.empty()) return bad("to", "at least one recipient is required");
  if (in.to.size() + in.cc.size() + in.bcc.size() > opt.max_recipients * 4)
    return bad("recipients", "more than " + std::to_string(opt.max_recipients));
  auto add_list = [&](const char* field, const std::vector<std::string>& list,
                      std::string* header) -> std::optional<Error> {
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string name = std::string(field) + "[" + std::to_string(i) + "]";
      if (has_crlf_nul(list[i])) return bad(name, "must not contain CR, LF or NUL");
      auto a = parse_address(list[i]);
      if (!a) return bad(name, "invalid address");
      if (a->name.size() > kMaxDisplayName) return bad(name, "display name too long");
      std::string addr = a->mailbox.str();
      if (!ascii(addr)) out.smtputf8 = true;
      if (std::find(out.recipients.begin(), out.recipients.end(), addr) == out.recipients.end())
        out.recipients.push_back(addr);
      if (header) *header += (header->empty() ? "" : ",\r\n ") + format_address(*a);
    }
    return std::nullopt;
  };
  std::string to_hdr, cc_hdr;
  if (auto e = add_list("to", in.to, &to_hdr)) return *e;
  if (auto e = add_list("cc", in.cc, &cc_hdr)) return *e;
  if (auto e = add_list("bcc", in.bcc, nullptr)) return *e;
  if (out.recipients.size() > opt.max_recipients)
    return bad("recipients", "more than " + std::to_string(opt.max_recipients));
  if (!ascii(out.sender)) out.smtputf8 = true;
  head += "To: " + to_hdr + "\r\n";
  if (!cc_hdr.empty()) head += "Cc: " + cc_hdr + "\r\n";

  if (has_crlf_nul(in.subject)) return bad("subject", "must not contain CR, LF or NUL");
  if (in.subject.size() > kMaxSubject) return bad("subject", "too long");
  if (!in.subject.empty()) head += "Subject: " + unstructured(in.subject) + "\r\n";

  const std::string id = opt.id.empty() ? core::random_hex(16) : opt.id;
  out.message_id = "<" + id + "@" + opt.hostname + ">";
  head += "Message-ID: " + out.message_id + "\r\n";
  head += "MIME-Version: 1.0\r\n";

  if (in.headers.size() > kMaxHeaders)
    return bad("headers", "more than " + std::to_string(kMaxHeaders));
  for (const auto& [name, value] : in.headers) {
    if (has_crlf_nul(name) || has_crlf_nul(value))
      return bad("headers", "must not contain CR, LF or NUL");
    if (name.size() > 76 || !is_field_name(name)) return bad("headers", "invalid field name");
    if (owned_header(name)) return bad("headers", name + " is set by Tern");
    if (value.size() > kMaxHeaderValue) return bad("headers", name + " value too long");
    head += name + ": " + unstructured(value) + "\r\n";
  }

  // Body.
  if (in.text.empty() && in.html.empty()) return bad("text", "text or html is required");
  std::vector<Part> alt;
  if (!in.text.empty()) alt.push_back(text_part("plain", in.text));
  if (!in.html.empty()) alt.push_back(text_part("html", in.html));
  Part content = alt.size() == 1 ? std::move(alt.front()) : multipart("alternative", alt);

  if (in.attachments.size() > kMaxAttachments)
    return bad("attachments", "more than " + std::to_string(kMaxAttachments));
  if (!in.attachments.empty()) {
    std::vector<Part> parts;
    parts.push_back(std::move(content));
    for (size_t i = 0; i < in.attachments.size(); ++i) {
      const auto& a = in.attachments[i];
      const std::string field = "attachments[" + std::to_string(i) + "]";
      if (has_crlf_nul(a.filename))
        return bad(field + ".filename", "must not contain CR, LF or NUL");
      if (a.filename.size() > kMaxFilename) return bad(field + ".filename", "too long");
      for (char c : a.filename)
        if (static_cast<unsigned char>(c) < 32 || c == 127)
          return bad(field + ".filename", "must not contain control characters");
      if (has_crlf_nul(a.content_type))
        return bad(field + ".contentType", "must not contain CR, LF or NUL");
      if (a.content_type.size() > 255) return bad(field + ".contentType", "too long");
      std::string ct =
          a.content_type.empty() ? "application/octet-stream" : std::string(trim(a.content_type));
      if (auto why = check_content_type(ct)) return bad(field + ".contentType", *why);
      // Line breaks and spaces inside the base64 are tolerated (MIME encoders emit them);
      // anything else that is not strict base64 is refused.
      std::string b64;
      b64.reserve(a.content.size());
      for (char c : a.content)
        if (c != '\r' && c != '\n' && c != ' ' && c != '\t') b64 += c;
      auto data = core::base64_decode(b64);
      if (!data) return bad(field + ".content", "invalid base64");
      Part p;
      p.headers = "Content-Type: " + ct;
      std::string disp = "Content-Disposition: attachment";
      if (!a.filename.empty()) {
        if (plain(a.filename)) {
          p.headers += ";\r\n name=" + quote(a.filename);
          disp += ";\r\n filename=" + quote(a.filename);
        } else {
          p.headers += ";\r\n name=\"" + encode_words(a.filename) + "\"";
          disp += ";\r\n filename*=" + rfc2231_value(a.filename);
        }
      }
      // encode_words folds with CRLF SP; inside a quoted name= a plain space joins them.
      for (size_t at; (at = p.headers.find("?=\r\n =?")) != std::string::npos;)
        p.headers.replace(at, 7, "?= =?");
      p.headers += "\r\n" + disp + "\r\nContent-Transfer-Encoding: base64\r\n";
      p.body = base64_lines(*data);
      parts.push_back(std::move(p));
    }
    content = multipart("mixed", parts);
  }

  out.message.reserve(head.size() + content.headers.size() + content.body.size() + 4);
  out.message = std::move(head);
  out.message += content.headers;
  out.message += "\r\n";
  out.message += content.body;
  out.message += "\r\n";
  if (out.message.size() > opt.max_bytes) return bad("message", "too large");
  return out;
}

}  // namespace tern::message
