#include "pipeline/message_signer.hpp"

#include "core/address.hpp"
#include "message/address_list.hpp"
#include "message/header.hpp"

namespace tern::pipeline {

MessageSigner::MessageSigner() = default;
MessageSigner::~MessageSigner() = default;

void MessageSigner::add(std::string_view piece) {
  if (!headers_seen_) {
    headers_seen_ = true;
    auto hs = message::parse_header_section(piece);
    for (auto& f : hs.fields) {
      if (from_domain_.empty() && core::iequals(f.name, "From")) {
        if (auto list = message::parse_address_list(f.value()); list && !list->empty())
          from_domain_ = list->front().mailbox.domain;
      }
      fields_.push_back(std::move(f.raw));
    }
    // body_offset points at the empty line's CRLF (when complete); the body follows it.
    if (hs.complete) {
      body_started_ = true;
      early_body_.assign(piece.substr(std::min(piece.size(), hs.body_offset + 2)));
    }
    return;
  }
  if (!decided_) {
    if (body_started_) early_body_.append(piece);
    return;
  }
  if (hasher_ && body_started_) hasher_->update(piece);
}

void MessageSigner::enable(std::vector<SignerKey> keys) {
  decided_ = true;
  keys_ = std::move(keys);
  if (!keys_.empty()) {
    hasher_ = std::make_unique<dkim::BodyHasher>();
    if (!early_body_.empty()) hasher_->update(early_body_);
  }
  early_body_.clear();
  early_body_.shrink_to_fit();
}

std::string MessageSigner::finish(int64_t unix_time) {
  if (!decided_) enable({});
  if (keys_.empty() || !hasher_) return {};
  const std::string bh = hasher_->finish_b64();
  std::string out;
  for (const auto& k : keys_) {
    dkim::SignRequest r;
    r.domain = k.domain;
    r.selector = k.selector;
    r.key = k.key.get();
    r.header_fields = fields_;
    r.body_hash_b64 = bh;
    r.timestamp = unix_time;
    out += dkim::sign(r);
  }
  return out;
}

}  // namespace tern::pipeline
