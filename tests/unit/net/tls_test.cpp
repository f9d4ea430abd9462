// The listeners' TLS context (issue 14, testssl.sh findings): the server's cipher order wins,
// TLS 1.2 offers AEAD suites only (no CBC: no LUCKY13), checked on the context's cipher list and
// by real in-memory handshakes: a client preferring AES-256 gets the server's first choice, a
// client offering only CBC suites gets no TLS 1.2 session.
#include "net/tls.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

#include "unit/run_dir.hpp"

namespace tern::net {
namespace {

std::shared_ptr<boost::asio::ssl::context> server_ctx() {
  static const TlsFiles files =
      ensure_self_signed((test::run_dir() / "tls_test").string(), "mx.tls.test");
  return make_server_context(files);
}

// Handshakes a TLS 1.2 client offering `ciphers` (in its order) with the server context over a
// memory BIO pair; the suite the server chose, or "" when the handshake failed.
std::string negotiate(SSL_CTX* server, const char* ciphers) {
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, nullptr);
  EXPECT_EQ(SSL_CTX_set_cipher_list(cctx, ciphers), 1) << ciphers;
  SSL* c = SSL_new(cctx);
  SSL* s = SSL_new(server);
  BIO *cb = nullptr, *sb = nullptr;
  BIO_new_bio_pair(&cb, 0, &sb, 0);
  SSL_set_bio(c, cb, cb);
  SSL_set_bio(s, sb, sb);
  SSL_set_connect_state(c);
  SSL_set_accept_state(s);
  bool c_done = false, s_done = false, failed = false;
  for (int i = 0; i < 100 && !(c_done && s_done) && !failed; ++i) {
    if (!c_done) {
      int r = SSL_do_handshake(c);
      c_done = r == 1;
      if (r <= 0 && SSL_get_error(c, r) != SSL_ERROR_WANT_READ) failed = true;
    }
    if (!s_done && !failed) {
      int r = SSL_do_handshake(s);
      s_done = r == 1;
      if (r <= 0 && SSL_get_error(s, r) != SSL_ERROR_WANT_READ) failed = true;
    }
  }
  std::string chosen = c_done && s_done ? SSL_CIPHER_get_name(SSL_get_current_cipher(s)) : "";
  SSL_free(c);
  SSL_free(s);
  SSL_CTX_free(cctx);
  ERR_clear_error();
  return chosen;
}

TEST(ServerTls, PrefersItsOwnOrderAndOffersOnlyAeadForTls12) {
  auto ctx = server_ctx();
  SSL_CTX* native = ctx->native_handle();
  EXPECT_NE(SSL_CTX_get_options(native) & SSL_OP_CIPHER_SERVER_PREFERENCE, 0u);
  STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(native);
  ASSERT_NE(list, nullptr);
  int tls12 = 0;
  for (int i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(list, i);
    const std::string name = SSL_CIPHER_get_name(c);
    EXPECT_EQ(SSL_CIPHER_is_aead(c), 1) << name << " is not AEAD";
    if (SSL_CIPHER_get_protocol_id(c) >> 8 != 0x13) {  // not a TLS 1.3 suite
      ++tls12;
      EXPECT_EQ(std::string(SSL_CIPHER_get_name(c)).rfind("ECDHE-", 0), 0u)
          << name << ": forward secrecy";
    }
  }
  EXPECT_GE(tls12, 4);
}

TEST(ServerTls, ServerOrderWinsOverTheClients) {
  auto ctx = server_ctx();
  // The client prefers AES-256; the server's first ECDSA choice is AES-128-GCM.
  EXPECT_EQ(negotiate(ctx->native_handle(),
                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:"
                      "ECDHE-ECDSA-AES128-GCM-SHA256"),
            "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST(ServerTls, CbcOnlyClientGetsNoTls12Session) {
  auto ctx = server_ctx();
  EXPECT_EQ(negotiate(ctx->native_handle(),
                      "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:AES128-SHA"),
            "");
  EXPECT_EQ(negotiate(ctx->native_handle(), "ECDHE-ECDSA-AES128-GCM-SHA256"),
            "ECDHE-ECDSA-AES128-GCM-SHA256");  // the harness does handshake
}

}  // namespace
}  // namespace tern::net
