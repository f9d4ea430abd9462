#include "net/tls.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace tern::net {

namespace fs = std::filesystem;

const char* const kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

namespace {
[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("tls: " + what); }

void add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ex = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ex) fail("extension");
  X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
}
}  // namespace

TlsFiles ensure_self_signed(const std::string& dir, const std::string& hostname) {
  TlsFiles f{dir + "/cert.pem", dir + "/key.pem"};
  if (fs::exists(f.cert) && fs::exists(f.key)) return f;
  fs::create_directories(dir);

  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (!pkey) fail("key generation");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  // Random 64-bit serial (RFC 5280 §4.1.2.2: unique per issuer).
  BIGNUM* bn = BN_new();
  BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3650L * 24 * 3600);
  X509_set_pubkey(cert, pkey);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  add_ext(cert, NID_subject_alt_name, ("DNS:" + hostname).c_str());
  add_ext(cert, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, NID_ext_key_usage, "serverAuth");
  if (!X509_sign(cert, pkey, EVP_sha256())) fail("sign");

  const std::string tmp_key = f.key + ".tmp", tmp_cert = f.cert + ".tmp";
  {
    FILE* fp = std::fopen(tmp_key.c_str(), "w");
    if (!fp) fail("cannot write " + tmp_key);
    chmod(tmp_key.c_str(), 0600);
    PEM_write_PrivateKey(fp, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(fp);
  }
  {
    FILE* fp = std::fopen(tmp_cert.c_str(), "w");
    if (!fp) fail("cannot write " + tmp_cert);
    PEM_write_X509(fp, cert);
    std::fclose(fp);
  }
  X509_free(cert);
  EVP_PKEY_free(pkey);
  fs::rename(tmp_key, f.key);
  fs::rename(tmp_cert, f.cert);
  return f;
}

std::shared_ptr<boost::asio::ssl::context> make_server_context(const TlsFiles& files) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  // The server picks the suite from its own order (issue 14: testssl.sh), and TLS 1.2 offers
  // only forward-secret AEAD suites: no CBC (LUCKY13 and the other padding oracles), no static
  // RSA key exchange. TLS 1.3 suites are all AEAD; OpenSSL's defaults stay.
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx->native_handle(), kTls12Ciphers) != 1)
    fail("cipher list refused by OpenSSL");
  // Small per-connection footprint: release read/write buffers while idle.
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  ctx->use_certificate_chain_file(files.cert);
  ctx->use_private_key_file(files.key, ssl::context::pem);
  return ctx;
}

}  // namespace tern::net
