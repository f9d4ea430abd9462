#include "tracking/mime_view.hpp"

#include "core/address.hpp"
#include "core/utf8.hpp"
#include "message/encoded_words.hpp"
#include "message/header.hpp"
#include "tracking/content_type.hpp"
#include "tracking/transfer_encoding.hpp"

namespace tern::tracking {

namespace {

const message::HeaderField* field(const message::HeaderSection& hs, std::string_view name) {
  for (const auto& f : hs.fields)
    if (core::to_lower(f.name) == core::to_lower(name)) return &f;
  return nullptr;
}

bool all_wsp(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t') return false;
  return true;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string to_utf8(std::string_view bytes, const std::string& charset) {
  const std::string cs = core::to_lower(charset);
  if (cs == "iso-8859-1" || cs == "latin1" || cs == "windows-1252" || cs == "us-ascii" ||
      cs == "iso-8859-15") {
    if (cs != "us-ascii" || !core::valid_utf8(bytes)) return latin1_to_utf8(bytes);
  }
  return core::to_valid_utf8(bytes);
}

class Walker {
 public:
  Walker(MessageView& v, const MessageViewLimits& l) : v_(v), l_(l) {}

  void entity(std::string_view text, size_t depth, std::string_view default_type, bool top) {
    const auto hs = message::parse_header_section(text);
    if (top) {
      for (const auto& f : hs.fields) {
        if (v_.headers.size() >= l_.max_headers) {
          v_.truncated = true;
          break;
        }
        v_.headers.emplace_back(core::to_valid_utf8(f.name),
                                message::decode_display_text(f.value(), 16384));
      }
    }
    const std::string_view body =
        hs.complete ? text.substr(std::min(text.size(), hs.body_offset + 2)) : std::string_view{};
    std::string type(default_type);
    ContentType ct;
    if (const auto* f = field(hs, "Content-Type")) {
      ct = parse_content_type(f->value());
      type = ct.type.empty() ? "text/plain" : ct.type;
    }
    const auto* d = field(hs, "Content-Disposition");
    const std::string disposition = d ? first_token_lower(d->value()) : "";
    if (type.starts_with("multipart/")) {
      auto boundary = ct.param("boundary");
      if (depth >= l_.max_depth || !boundary || boundary->empty() || boundary->size() > 200) {
        v_.truncated = true;
        return;
      }
      multipart(body, *boundary, depth + 1,
                type == "multipart/digest" ? "message/rfc822" : "text/plain");
      return;
    }
    if (++leaves_ > l_.max_parts) {
      v_.truncated = true;
      return;
    }
    const auto* te = field(hs, "Content-Transfer-Encoding");
    const std::string cte = te ? first_token_lower(te->value()) : "";
    const bool attachment = disposition == "attachment";
    if (!attachment && type == "text/plain" && !v_.has_text) {
      v_.text = decode(body, cte, ct);
      v_.has_text = true;
      return;
    }
    if (!attachment && type == "text/html" && !v_.has_html) {
      v_.html = decode(body, cte, ct);
      v_.has_html = true;
      return;
    }
    MessageView::Attachment a;
    a.content_type = core::to_valid_utf8(type);
    if (d) {
      const std::string dv = d->value();
      if (const size_t semi = dv.find(';'); semi != std::string::npos) {
        auto dp = parse_content_type("x/x" + dv.substr(semi));
        if (auto fn = dp.param("filename")) a.filename = message::decode_display_text(*fn, 512);
      }
    }
    if (a.filename.empty())
      if (auto n = ct.param("name")) a.filename = message::decode_display_text(*n, 512);
    a.size = body.size();
    v_.attachments.push_back(std::move(a));
  }

 private:
  static std::string decode(std::string_view body, const std::string& cte, const ContentType& ct) {
    std::string bytes;
    if (cte == "base64") {
      auto b = base64_lines_decode(body);
      bytes = b ? std::move(*b) : std::string(body);
    } else if (cte == "quoted-printable") {
      bytes = qp_decode(body);
    } else {
      bytes = std::string(body);
    }
    return to_utf8(bytes, ct.param("charset").value_or("utf-8"));
  }

  void multipart(std::string_view body, const std::string& boundary, size_t depth,
                 std::string_view default_type) {
    const std::string dash = "--" + boundary;
    std::vector<std::pair<size_t, size_t>> delims;  // (line start, next line)
    size_t pos = 0;
    while (pos < body.size()) {
      const size_t eol = body.find('\n', pos);
      const size_t next = eol == std::string_view::npos ? body.size() : eol + 1;
      std::string_view line = body.substr(pos, next - pos);
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
      if (line.starts_with(dash)) {
        std::string_view rest = line.substr(dash.size());
        if (rest.starts_with("--") && all_wsp(rest.substr(2))) {
          delims.emplace_back(pos, next);
          break;
        }
        if (all_wsp(rest)) delims.emplace_back(pos, next);
      }
      pos = next;
    }
    // An unclosed multipart ends at the end of the body (lenient: this is only display).
    if (!delims.empty() && delims.back().second != body.size() &&
        !body.substr(delims.back().first).starts_with(dash + "--"))
      delims.emplace_back(body.size(), body.size());
    for (size_t i = 0; i + 1 < delims.size(); ++i) {
      const size_t b = delims[i].second;
      size_t e = delims[i + 1].first;
      if (e < b) continue;
      // The line break before a delimiter belongs to it.
      if (e > b && body[e - 1] == '\n') --e;
      if (e > b && body[e - 1] == '\r') --e;
      entity(body.substr(b, e - b), depth, default_type, false);
      if (leaves_ > l_.max_parts) return;
    }
  }

  MessageView& v_;
  const MessageViewLimits& l_;
  size_t leaves_ = 0;
};

}  // namespace

MessageView view_message(std::string_view raw, MessageViewLimits limits) {
  MessageView v;
  Walker(v, limits).entity(raw, 0, "text/plain", true);
  return v;
}

}  // namespace tern::tracking
