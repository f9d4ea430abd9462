#include "smtp/data_decoder.hpp"

namespace tern::smtp {

void DataDecoder::emit(char c, std::string& out) {
  if (++seen_ <= max_size_) out += c;
}

void DataDecoder::bare_cr(char c, std::string& out) {
  bare_cr_ = true;
  if (++line_len_ > max_line_) long_line_ = true;
  emit('\r', out);
  state_ = State::mid;
  text(c, out);
}

void DataDecoder::text(char c, std::string& out) {
  if (c == '\r') {
    state_ = State::cr;  // held until we know whether LF follows
    return;
  }
  if (c == '\n') bare_lf_ = true;
  if (c == '\0') nul_ = true;
  if (static_cast<unsigned char>(c) >= 0x80) eight_bit_ = true;
  if (++line_len_ > max_line_) long_line_ = true;
  emit(c, out);
  state_ = State::mid;
}

size_t DataDecoder::push(std::string_view in, std::string& out) {
  size_t i = 0;
  for (; i < in.size() && state_ != State::done; ++i) {
    char c = in[i];
    switch (state_) {
      case State::line_start:
        if (c == '.')
          state_ = State::dot;  // stuffing dot or start of the terminator
        else
          text(c, out);
        break;
      case State::dot:
        if (c == '\r')
          state_ = State::dot_cr;
        else
          text(c, out);  // the leading dot was stuffing: dropped
        break;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::done;
        } else {  // ".\r" + X: the CR is bare, content of a line whose stuffing dot is dropped
          bare_cr(c, out);
        }
        break;
      case State::mid:
        text(c, out);
        break;
      case State::cr:
        if (c == '\n') {
          emit('\r', out);
          emit('\n', out);
          line_len_ = 0;
          state_ = State::line_start;
        } else {
          bare_cr(c, out);
        }
        break;
      case State::done:
        break;
    }
  }
  return i;
}

}  // namespace tern::smtp
