#include "smtp/reply.hpp"

namespace tern::smtp {

core::Status reply_for(core::ErrorCode code, std::string text) {
  using core::ErrorCode;
  switch (code) {
    case ErrorCode::disk_full:
      return {452, "4.3.1", "Insufficient system storage"};
    case ErrorCode::invalid:
      return {550, "5.6.0", std::move(text)};
    case ErrorCode::not_found:
      return {550, "5.1.1", std::move(text)};
    case ErrorCode::forbidden:
      return {550, "5.7.1", std::move(text)};
    case ErrorCode::unavailable:
    case ErrorCode::conflict:
    case ErrorCode::corrupt:
    case ErrorCode::internal:
      break;
  }
  return {451, "4.3.0", std::move(text)};
}

std::string encode_reply(const core::Status& s) { return s.line() + "\r\n"; }

std::string encode_multiline(int code, std::string_view enhanced,
                             const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += std::to_string(code);
    out += i + 1 < lines.size() ? '-' : ' ';
    if (!enhanced.empty()) {
      out += enhanced;
      out += ' ';
    }
    out += lines[i];
    out += "\r\n";
  }
  return out;
}

std::string Reply::full() const {
  std::string out;
  std::string c = std::to_string(code);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += c;
    if (i + 1 < lines.size())
      out += '-';
    else if (!lines[i].empty())
      out += ' ';
    out += lines[i];
  }
  return out;
}

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

// "c.s.d" at the start of `t` followed by a space or the end: RFC 3463 §2 (subject and detail
// 1-3 digits).
std::string enhanced_of(std::string_view t, int code) {
  if (t.size() < 5 || t[0] != static_cast<char>('0' + code / 100) || t[1] != '.') return {};
  size_t i = 2, n = 0;
  while (i < t.size() && digit(t[i]) && n < 4) ++i, ++n;
  if (n == 0 || n > 3 || i >= t.size() || t[i] != '.') return {};
  ++i;
  n = 0;
  while (i < t.size() && digit(t[i]) && n < 4) ++i, ++n;
  if (n == 0 || n > 3 || (i < t.size() && t[i] != ' ')) return {};
  return std::string(t.substr(0, i));
}

}  // namespace

void ReplyParser::feed(std::string_view bytes) {
  if (!error_.empty()) return;
  // Compact before growing so the buffer holds only unparsed bytes.
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 4096) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

void ReplyParser::clear() {
  buf_.clear();
  pos_ = 0;
  cur_ = Reply{};
}

std::variant<std::monostate, Reply, ReplyError> ReplyParser::next() {
  while (error_.empty()) {
    size_t lf = buf_.find('\n', pos_);
    if (lf == std::string::npos) {
      // +1: a CR may still be waiting for its LF.
      if (buf_.size() - pos_ > lim_.max_line + 1)
        error_ = "reply line longer than " + std::to_string(lim_.max_line) + " octets";
      break;
    }
    std::string_view line(buf_.data() + pos_, lf - pos_);
    pos_ = lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > lim_.max_line) {
      error_ = "reply line longer than " + std::to_string(lim_.max_line) + " octets";
      break;
    }
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !digit(line[1]) || !digit(line[2]) ||
        (line.size() > 3 && line[3] != '-' && line[3] != ' ')) {
      error_ = "malformed reply line";
      break;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (!cur_.lines.empty() && code != cur_.code) {
      error_ = "reply code changed within a multi-line reply";
      break;
    }
    if (cur_.lines.size() >= lim_.max_lines) {
      error_ = "reply longer than " + std::to_string(lim_.max_lines) + " lines";
      break;
    }
    std::string text(line.size() > 4 ? line.substr(4) : std::string_view());
    for (char& c : text)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) c = '?';
    if (cur_.lines.empty()) {
      cur_.code = code;
      cur_.enhanced = enhanced_of(text, code);
    }
    cur_.lines.push_back(std::move(text));
    if (line.size() == 3 || line[3] == ' ') {
      Reply r = std::move(cur_);
      cur_ = Reply{};
      return r;
    }
  }
  if (!error_.empty()) return ReplyError{error_};
  return std::monostate{};
}

}  // namespace tern::smtp
