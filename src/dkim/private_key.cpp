// PrivateKey over OpenSSL 3 EVP_PKEY: RSA (rsa-sha256, RFC 6376 §3.3.1: PKCS#1 v1.5 over SHA-256)
// and Ed25519 (ed25519-sha256, RFC 8463 §3: PureEdDSA over the SHA-256 digest of the data).
//
// Invariants: a PrivateKey always holds a usable private key of one of the two types (RSA of at
// least 1024 bits, RFC 8301 §3.2); it is immutable after construction, so one instance is shared
// by every signing thread (an EVP_PKEY may be used concurrently; the per-call state lives in an
// EVP_MD_CTX copied from a template initialized once; Ed25519 contexts are reused per thread,
// see sign_ed25519). sign() returns the raw signature bytes (empty on failure).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "core/base64.hpp"
#include "dkim/evp.hpp"
#include "dkim/signer.hpp"

namespace tern::dkim {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::atomic<uint64_t> next_serial{0};

// An encrypted PEM must fail, never prompt on a terminal for a passphrase.
int no_passphrase(char*, int, int, void*) { return -1; }

class EvpKey final : public PrivateKey {
 public:
  EvpKey(PkeyPtr key, Algorithm alg) : key_(std::move(key)), alg_(alg) {
    // Signing context set up once; each call signs with a copy of it (see sign_or_empty).
    template_.reset(EVP_MD_CTX_new());
    if (!template_ || !init(template_.get())) template_.reset();
  }

  Algorithm algorithm() const override { return alg_; }

  std::string to_pem() const override {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
      return {};
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
  }

  std::string public_key_b64() const override {
    std::string der;
    if (alg_ == Algorithm::ed25519_sha256) {
      size_t len = 32;
      der.resize(len);
      if (EVP_PKEY_get_raw_public_key(key_.get(), reinterpret_cast<unsigned char*>(der.data()),
                                      &len) != 1)
        return {};
      der.resize(len);
    } else {
      const int len = i2d_PUBKEY(key_.get(), nullptr);
      if (len <= 0) return {};
      der.resize(static_cast<size_t>(len));
      auto* p = reinterpret_cast<unsigned char*>(der.data());
      if (i2d_PUBKEY(key_.get(), &p) != len) return {};
    }
    return core::base64_encode(der);
  }

  std::string sign(std::string_view data) const override {
    std::string sig = sign_or_empty(data);
    if (sig.empty()) ERR_clear_error();
    return sig;
  }

 private:
  bool init(EVP_MD_CTX* ctx) const {
    // RSA: PKCS#1 v1.5 (the default padding) over SHA-256. Ed25519: no digest (PureEdDSA).
    const EVP_MD* md = alg_ == Algorithm::rsa_sha256 ? detail::sha256() : nullptr;
    return EVP_DigestSignInit(ctx, nullptr, md, nullptr, key_.get()) == 1;
  }

  // A context initialized for this key, for this thread only: copied from the template (copying
  // only reads it and takes references, so threads share the key without locks and without
  // the provider look-ups of a full EVP_DigestSignInit).
  MdCtxPtr fresh_context() const {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) return nullptr;
    if (!template_ || EVP_MD_CTX_copy_ex(ctx.get(), template_.get()) != 1) {
      EVP_MD_CTX_reset(ctx.get());
      if (!init(ctx.get())) return nullptr;
    }
    return ctx;
  }

  std::string sign_or_empty(std::string_view data) const {
    std::string sig(static_cast<size_t>(EVP_PKEY_get_size(key_.get())), '\0');
    size_t sig_len = sig.size();
    auto* out = reinterpret_cast<unsigned char*>(sig.data());
    if (alg_ == Algorithm::ed25519_sha256) {
      // RFC 8463 §3: the Ed25519 input is the SHA-256 hash of the data, not the data.
      unsigned char digest[32];
      unsigned int dlen = 0;
      if (EVP_Digest(data.data(), data.size(), digest, &dlen, detail::sha256(), nullptr) != 1)
        return {};
      if (!sign_ed25519(digest, dlen, out, &sig_len)) return {};
    } else {
      MdCtxPtr ctx = fresh_context();
      if (!ctx) return {};
      // Sign once: without this flag OpenSSL copies the context again to keep it reusable.
      EVP_MD_CTX_set_flags(ctx.get(), EVP_MD_CTX_FLAG_FINALISE);
      if (EVP_DigestSign(ctx.get(), out, &sig_len,
                         reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
        return {};
    }
    sig.resize(sig_len);
    return sig;
  }

  // PureEd25519 is one-shot: EVP_DigestSign leaves its context as it was, so each thread keeps
  // a few initialized contexts (one per key recently used) and signs with them again, as
  // `openssl speed` does; that saves an allocation and a context copy per signature, a few
  // percent of an Ed25519 signature. Entries are keyed by a serial number unique to each key
  // object (never by address: a new key may be allocated where a freed one was). A cached
  // context holds a reference to its key, released when the entry is replaced or the thread
  // ends. If reuse ever fails, a fresh context is used and replaces the entry.
  bool sign_ed25519(const unsigned char* msg, size_t len, unsigned char* out,
                    size_t* out_len) const {
    struct Entry {
      uint64_t serial = 0;
      MdCtxPtr ctx;
    };
    thread_local std::array<Entry, 4> cache;
    thread_local size_t next_victim = 0;
    Entry* entry = nullptr;
    for (auto& e : cache)
      if (e.serial == serial_ && e.ctx) entry = &e;
    const size_t cap = *out_len;
    if (entry != nullptr && EVP_DigestSign(entry->ctx.get(), out, out_len, msg, len) == 1)
      return true;
    *out_len = cap;
    ERR_clear_error();
    MdCtxPtr ctx = fresh_context();
    if (!ctx || EVP_DigestSign(ctx.get(), out, out_len, msg, len) != 1) return false;
    if (entry == nullptr) {
      entry = &cache[next_victim];
      next_victim = (next_victim + 1) % cache.size();
    }
    entry->serial = serial_;
    entry->ctx = std::move(ctx);
    return true;
  }

  PkeyPtr key_;
  Algorithm alg_;
  MdCtxPtr template_;  // initialized for signing with key_; only ever copied from
  const uint64_t serial_ = next_serial.fetch_add(1, std::memory_order_relaxed) + 1;
};

std::shared_ptr<const PrivateKey> wrap(PkeyPtr key) {
  if (!key) return nullptr;
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key.get()) < 1024) return nullptr;  // RFC 8301 §3.2
      return std::make_shared<EvpKey>(std::move(key), Algorithm::rsa_sha256);
    case EVP_PKEY_ED25519:
      return std::make_shared<EvpKey>(std::move(key), Algorithm::ed25519_sha256);
    default:
      return nullptr;  // RSA-PSS, EC, ... have no DKIM algorithm
  }
}

}  // namespace

std::shared_ptr<const PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  if (pem.empty() || pem.size() > (1 << 20)) return nullptr;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  auto out = wrap(std::move(key));
  if (!out) ERR_clear_error();  // bad input is an outcome, not a stale error for the next caller
  return out;
}

std::shared_ptr<const PrivateKey> PrivateKey::generate(Algorithm alg) {
  EVP_PKEY* key = alg == Algorithm::rsa_sha256
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  return wrap(PkeyPtr(key));
}

std::string dns_record(const PrivateKey& key) {
  const char* k = key.algorithm() == Algorithm::rsa_sha256 ? "rsa" : "ed25519";
  return std::string("v=DKIM1; k=") + k + "; p=" + key.public_key_b64();
}

}  // namespace tern::dkim
