#include "tracking/rewriter.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include "message/header.hpp"
#include "tracking/content_type.hpp"
#include "tracking/html_links.hpp"
#include "tracking/token.hpp"
#include "tracking/transfer_encoding.hpp"

namespace tern::tracking {

namespace {

constexpr size_t kMaxLine = 998;  // RFC 5322 §2.1.1, without the CRLF

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool all_wsp(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t') return false;
  return true;
}

size_t longest_line(std::string_view s) {
  size_t best = 0, pos = 0;
  while (pos <= s.size()) {
    size_t eol = s.find("\r\n", pos);
    size_t end = eol == std::string_view::npos ? s.size() : eol;
    best = std::max(best, end - pos);
    if (eol == std::string_view::npos) break;
    pos = eol + 2;
  }
  return best;
}

// Where a bare CR or LF is, or npos.
size_t find_bare_cr_lf(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 >= s.size() || s[i + 1] != '\n') return i;
      ++i;
    } else if (s[i] == '\n') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Base URLs go verbatim into href/src values and into the tokens' links: keep them to URL
// characters that need no escaping in HTML, and to scheme://host[:port][/path].
bool valid_base_url(std::string_view u) {
  size_t rest;
  if (ieq(u.substr(0, 7), "http://"))
    rest = 7;
  else if (ieq(u.substr(0, 8), "https://"))
    rest = 8;
  else
    return false;
  if (rest >= u.size() || u[rest] == '/') return false;
  for (size_t i = rest; i < u.size(); ++i) {
    const char c = u[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("-._~:/%[]").find(c) == std::string_view::npos)
      return false;
  }
  return true;
}

const message::HeaderField* first_field(const message::HeaderSection& hs, std::string_view name) {
  for (const auto& f : hs.fields)
    if (ieq(f.name, name)) return &f;
  return nullptr;
}

class Walker {
 public:
  Walker(const RewriteOptions& o, std::string base) : o_(o), base_(std::move(base)) {
    tracked_prefix_ = base_ + "/t/";
    TokenFields open{TokenKind::open, o.message_id, o.recipient, 0, {}, o.context};
    auto t = sign_token(open, o.secret);
    if (t) pixel_ = "<img src=\"" + base_ + "/t/o/" + *t + "\" width=\"1\" height=\"1\" alt=\"\">";
  }

  bool ok_options() const { return !pixel_.empty(); }
  const std::string& reason() const { return reason_; }
  size_t html_parts() const { return html_parts_; }
  size_t links() const { return links_; }

  // Appends the (possibly rewritten) entity to out; false when the message must be refused.
  bool entity(std::string_view text, std::string& out, size_t depth,
              std::string_view default_type) {
    const auto hs = message::parse_header_section(text);
    if (!hs.complete) {  // no header/body separator: no body to rewrite
      out.append(text);
      return true;
    }
    const size_t body_start = hs.body_offset + 2;
    std::string type(default_type);
    if (const auto* f = first_field(hs, "Content-Type")) {
      auto ct = parse_content_type(f->value());
      type = ct.type.empty() ? "text/plain" : ct.type;  // RFC 2045 §5.2
      if (type.rfind("multipart/", 0) == 0) {
        if (depth >= o_.limits.max_depth)
          return refuse("multipart nested deeper than " + std::to_string(o_.limits.max_depth));
        const auto cte = encoding(hs);
        if (cte != "7bit" && cte != "8bit" && cte != "binary")
          return refuse("multipart entity with Content-Transfer-Encoding " + cte.substr(0, 40));
        auto boundary = ct.param("boundary");
        if (!boundary || boundary->empty() || boundary->size() > 70)
          return refuse("multipart entity without a valid boundary");
        out.append(text.substr(0, body_start));
        return multipart(text.substr(body_start), *boundary, out, depth + 1,
                         type == "multipart/digest" ? "message/rfc822" : "text/plain");
      }
    }
    if (type != "text/html" || disposition(hs) == "attachment") {
      out.append(text);
      return true;
    }
    ++html_parts_;
    return html(text.substr(0, body_start), text.substr(body_start), encoding(hs), out);
  }

  bool over_link_limit() const { return link_limit_hit_; }

 private:
  bool refuse(std::string why) {
    if (reason_.empty()) reason_ = std::move(why);
    return false;
  }

  static std::string encoding(const message::HeaderSection& hs) {
    const auto* f = first_field(hs, "Content-Transfer-Encoding");
    std::string e = f ? first_token_lower(f->value()) : "";
    return e.empty() ? "7bit" : e;
  }

  static std::string disposition(const message::HeaderSection& hs) {
    const auto* f = first_field(hs, "Content-Disposition");
    return f ? first_token_lower(f->value()) : "";
  }

  bool multipart(std::string_view body, const std::string& boundary, std::string& out, size_t depth,
                 std::string_view default_type) {
    const std::string dash = "--" + boundary;
    struct Delim {
      size_t line_start, next_line;
    };
    std::vector<Delim> delims;
    bool closed = false;
    size_t pos = 0;
    while (pos < body.size()) {
      const size_t eol = body.find("\r\n", pos);
      const size_t end = eol == std::string_view::npos ? body.size() : eol;
      const size_t next = eol == std::string_view::npos ? body.size() : eol + 2;
      std::string_view line = body.substr(pos, end - pos);
      if (line.size() >= dash.size() && line.compare(0, dash.size(), dash) == 0) {
        std::string_view rest = line.substr(dash.size());
        if (rest.substr(0, 2) == "--" && all_wsp(rest.substr(2))) {
          delims.push_back({pos, next});
          closed = true;
          break;
        }
        if (all_wsp(rest)) delims.push_back({pos, next});
      }
      pos = next;
    }
    if (delims.empty()) return refuse("multipart body has no boundary delimiter");
    if (!closed) return refuse("multipart body is not closed (no close delimiter)");

    size_t cursor = 0;
    for (size_t i = 0; i + 1 < delims.size(); ++i) {
      if (++parts_ > o_.limits.max_parts)
        return refuse("more than " + std::to_string(o_.limits.max_parts) + " body parts");
      const size_t b = delims[i].next_line;
      const size_t next_start = delims[i + 1].line_start;
      if (next_start < b + 2) continue;  // empty part: the CRLF before it is the delimiter's
      const size_t e = next_start - 2;   // the CRLF before a delimiter belongs to it
      out.append(body.substr(cursor, b - cursor));
      if (!entity(body.substr(b, e - b), out, depth, default_type)) return false;
      cursor = e;
    }
    out.append(body.substr(cursor));
    return true;
  }

  bool html(std::string_view head, std::string_view body, const std::string& cte,
            std::string& out) {
    std::string decoded;
    const bool identity = cte == "7bit" || cte == "8bit" || cte == "binary";
    if (identity) {
      decoded = std::string(body);
    } else if (cte == "quoted-printable") {
      decoded = qp_decode(body);
    } else if (cte == "base64") {
      auto d = base64_lines_decode(body);
      if (!d) return refuse("text/html part has invalid base64");
      decoded = std::move(*d);
    } else {
      return refuse("text/html part with unknown Content-Transfer-Encoding " + cte.substr(0, 40));
    }

    auto mint = [this](const std::string& url) -> std::optional<std::string> {
      if (url.size() > o_.limits.max_url_bytes) return std::nullopt;
      if (links_ >= o_.limits.max_links) {
        link_limit_hit_ = true;
        return std::nullopt;
      }
      TokenFields f{
          TokenKind::click, o_.message_id, o_.recipient, static_cast<uint32_t>(links_), url,
          o_.context};
      auto t = sign_token(f, o_.secret);
      if (!t) return std::nullopt;
      ++links_;
      return base_ + "/t/c/" + *t;
    };
    auto r = rewrite_html(decoded, tracked_prefix_, mint, pixel_);
    if (link_limit_hit_)
      return refuse("more than " + std::to_string(o_.limits.max_links) + " links");

    std::string encoded;
    if (identity) {
      const size_t after = longest_line(r.html);
      if (after > kMaxLine && after > longest_line(body))
        return refuse("rewritten " + cte + " text/html line would exceed 998 octets");
      encoded = std::move(r.html);
    } else if (cte == "quoted-printable") {
      encoded = qp_encode(r.html);
    } else {
      encoded = base64_lines_encode(r.html);
      const bool had_final_crlf = body.size() >= 2 && body.substr(body.size() - 2) == "\r\n";
      if (!had_final_crlf) encoded.resize(encoded.size() - 2);
    }
    out.append(head);
    out.append(encoded);
    return true;
  }

  const RewriteOptions& o_;
  std::string base_;
  std::string tracked_prefix_;
  std::string pixel_;
  std::string reason_;
  size_t html_parts_ = 0;
  size_t parts_ = 0;
  size_t links_ = 0;
  bool link_limit_hit_ = false;
};

RewriteResult unchanged(std::string_view message, RewriteStatus status, std::string reason) {
  RewriteResult r;
  r.status = status;
  r.message = std::string(message);
  r.reason = std::move(reason);
  return r;
}

}  // namespace

RewriteResult rewrite_message(std::string_view message, const RewriteOptions& o) {
  std::string base = o.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!valid_base_url(base))
    return unchanged(message, RewriteStatus::refused,
                     "tracking base URL is not a plain http(s) URL");
  if (o.secret.size() < kMinSecretBytes)
    return unchanged(message, RewriteStatus::refused, "tracking secret too short");
  if (o.message_id.empty() || o.message_id.size() > 255)
    return unchanged(message, RewriteStatus::refused, "message id must be 1..255 bytes");
  if (message.size() > o.limits.max_message_bytes)
    return unchanged(message, RewriteStatus::refused, "message larger than the tracking limit");
  if (size_t at = find_bare_cr_lf(message); at != std::string_view::npos)
    return unchanged(message, RewriteStatus::refused,
                     "bare CR or LF at offset " + std::to_string(at));

  Walker w(o, base);
  if (!w.ok_options())
    return unchanged(message, RewriteStatus::refused, "cannot sign tracking tokens");
  std::string out;
  out.reserve(message.size() + message.size() / 8 + 512);
  if (!w.entity(message, out, 0, "text/plain"))
    return unchanged(message, RewriteStatus::refused, w.reason());
  if (w.html_parts() == 0) return unchanged(message, RewriteStatus::no_html, {});
  RewriteResult r;
  r.status = RewriteStatus::rewritten;
  r.message = std::move(out);
  r.html_parts = w.html_parts();
  r.links = w.links();
  return r;
}

}  // namespace tern::tracking
