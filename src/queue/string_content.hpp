// A message's content held in memory, read like spooled content (Spool::ContentReader): the
// test email, which never enters the spool, and tests of delivery code.
// Invariant: read() hands out the bytes once, in order, then 0 (the end); it never fails.
#pragma once
#include <algorithm>
#include <cstring>
#include <string>

#include "queue/spool.hpp"

namespace tern::queue {

class StringContent final : public Spool::ContentReader {
 public:
  explicit StringContent(std::string s) : s_(std::move(s)) {}
  core::Result<size_t> read(char* buf, size_t n) override {
    const size_t k = std::min(n, s_.size() - pos_);
    std::memcpy(buf, s_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  uint64_t size() const override { return s_.size(); }

 private:
  std::string s_;
  size_t pos_ = 0;
};

}  // namespace tern::queue
