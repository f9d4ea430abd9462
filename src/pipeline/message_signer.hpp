// DKIM signing of one message as its content streams from the session to the spool.
//
// The session hands content out as pieces: the first piece is the final header section (with
// the empty line and possibly the start of the body), the rest is body. MessageSigner sees the
// same pieces: from the first it learns the header fields and the From domain; the driver then
// looks up that domain's keys and calls enable() (or leaves it disabled); body pieces are hashed
// as they pass (RFC 6376 relaxed body hash), and finish() returns the DKIM-Signature fields to
// prepend. Pure: no I/O, no clock (the caller passes t=).
//
// Invariants: the body hash covers exactly the bytes after the empty line that ends the header
// section; bytes of the first piece that belong to the body are kept until enable()/disable()
// decides, so no byte is hashed twice or missed; a message without keys costs no hashing.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/signer.hpp"

namespace tern::pipeline {

struct SignerKey {
  std::string domain;    // d=
  std::string selector;  // s=
  std::shared_ptr<const dkim::PrivateKey> key;
};

class MessageSigner {
 public:
  MessageSigner();
  ~MessageSigner();
  void add(std::string_view piece);
  bool headers_seen() const { return headers_seen_; }
  // Domain of the (first) From address, lower case; empty if none could be parsed.
  const std::string& from_domain() const { return from_domain_; }
  // Sign with these keys (one signature each, in order). Empty keys = do not sign.
  void enable(std::vector<SignerKey> keys);
  // DKIM-Signature fields ("DKIM-Signature: ...\r\n" each) to put before the header section;
  // empty when not signing.
  std::string finish(int64_t unix_time);

 private:
  bool headers_seen_ = false;
  bool decided_ = false;
  std::string from_domain_;
  std::vector<std::string> fields_;  // raw header fields, in order
  std::string early_body_;           // body bytes seen before the decision
  bool body_started_ = false;        // the empty line was found
  std::vector<SignerKey> keys_;
  std::unique_ptr<dkim::BodyHasher> hasher_;
};

}  // namespace tern::pipeline
