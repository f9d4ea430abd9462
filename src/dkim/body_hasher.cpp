// BodyHasher: relaxed body canonicalization (relaxed.hpp) feeding SHA-256 (RFC 6376 §3.7, bh=).
//
// Small pieces of output (a compressed SP, line ends that turned out not to be trailing) are
// gathered in a staging buffer so SHA-256 is not called per byte; long spans copied unchanged
// from the input go to SHA-256 directly, without a copy. finish_b64() returns the bh= value and
// leaves the hasher ready for the next body.
#include <openssl/evp.h>

#include <cstring>
#include <stdexcept>

#include "core/base64.hpp"
#include "dkim/evp.hpp"
#include "dkim/relaxed.hpp"
#include "dkim/signer.hpp"

namespace tern::dkim {

struct BodyHasher::Impl {
  struct Sink {
    Impl* self;
    void operator()(const char* p, size_t n) const { self->emit(p, n); }
  };

  Impl() : ctx(EVP_MD_CTX_new()), sink{this}, canon(sink) {
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, detail::sha256(), nullptr) != 1)
      throw std::runtime_error("dkim: SHA-256 unavailable");
  }
  ~Impl() { EVP_MD_CTX_free(ctx); }

  void emit(const char* p, size_t n) {
    if (n >= kDirect) {
      flush();
      EVP_DigestUpdate(ctx, p, n);
      return;
    }
    if (staged + n > sizeof(stage)) flush();
    std::memcpy(stage + staged, p, n);
    staged += n;
  }
  void flush() {
    if (staged > 0) EVP_DigestUpdate(ctx, stage, staged);
    staged = 0;
  }

  static constexpr size_t kDirect = 256;
  EVP_MD_CTX* ctx;
  Sink sink;
  detail::RelaxedBody<Sink> canon;
  size_t staged = 0;
  char stage[4096];
};

BodyHasher::BodyHasher() : impl_(std::make_unique<Impl>()) {}
BodyHasher::~BodyHasher() = default;

void BodyHasher::update(std::string_view body_bytes) { impl_->canon.update(body_bytes); }

std::string BodyHasher::finish_b64() {
  impl_->canon.finish();
  impl_->flush();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  EVP_DigestInit_ex(impl_->ctx, detail::sha256(), nullptr);  // ready for the next body
  return core::base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

}  // namespace tern::dkim
