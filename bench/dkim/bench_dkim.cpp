// bench_dkim: DKIM signing throughput, the whole pipeline a message goes through (relaxed body
// canonicalization + SHA-256 as the body streams in, header selection and canonicalization,
// signature, folding), with the key parsed once and cached as the server does. Compared with
// `openssl speed` by bench/dkim/run.sh.
//
//   BM_Sign/<alg>/<message bytes>  signs per second (items_per_second)
//   BM_BodyHash/<body bytes>       relaxed body hash throughput (bytes_per_second)
//   BM_KeySign/<alg>               PrivateKey::sign alone on a typical signed-header block
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "dkim/signer.hpp"

namespace {

using tern::dkim::Algorithm;
using tern::dkim::BodyHasher;
using tern::dkim::PrivateKey;
using tern::dkim::SignRequest;

const std::vector<std::string> kHeaders = {
    "From: Alice Example <alice@example.com>\r\n",
    "To: Bob Receiver <bob@example.net>\r\n",
    "Subject: Your order #12345 has shipped\r\n",
    "Date: Sat, 01 Feb 2025 10:00:00 +0000\r\n",
    "Message-ID: <20250201100000.abcdef@example.com>\r\n",
    "MIME-Version: 1.0\r\n",
    "Content-Type: text/plain; charset=utf-8\r\n",
    "Content-Transfer-Encoding: 8bit\r\n",
};

size_t header_bytes() {
  size_t n = 2;  // the empty line before the body
  for (const auto& h : kHeaders) n += h.size();
  return n;
}

// Plain text of `n` bytes in CRLF lines of about 72 characters: what most mail bodies look like.
std::string text_body(size_t n) {
  static const char words[] =
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
      "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud ";
  std::string body;
  body.reserve(n);
  size_t w = 0, col = 0;
  while (body.size() + 2 < n) {
    if (col >= 70) {
      body += "\r\n";
      col = 0;
      continue;
    }
    body.push_back(words[w]);
    w = (w + 1) % (sizeof(words) - 1);
    ++col;
  }
  body += "\r\n";
  return body;
}

const PrivateKey& key(Algorithm alg) {
  static const auto rsa = PrivateKey::generate(Algorithm::rsa_sha256);
  static const auto ed = PrivateKey::generate(Algorithm::ed25519_sha256);
  return alg == Algorithm::rsa_sha256 ? *rsa : *ed;
}

void BM_Sign(benchmark::State& state, Algorithm alg) {
  const size_t message = static_cast<size_t>(state.range(0));
  const std::string body = text_body(message - header_bytes());
  const PrivateKey& k = key(alg);
  BodyHasher hasher;
  SignRequest r{"example.com", "s2025", &k, kHeaders, {}, 1738404000};
  for (auto _ : state) {
    hasher.update(body);
    r.body_hash_b64 = hasher.finish_b64();
    std::string field = tern::dkim::sign(r);
    if (field.empty()) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(field);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * message));
}

void BM_BodyHash(benchmark::State& state) {
  const std::string body = text_body(static_cast<size_t>(state.range(0)));
  BodyHasher hasher;
  for (auto _ : state) {
    hasher.update(body);
    benchmark::DoNotOptimize(hasher.finish_b64());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_KeySign(benchmark::State& state, Algorithm alg) {
  const std::string data(600, 'x');
  const PrivateKey& k = key(alg);
  for (auto _ : state) benchmark::DoNotOptimize(k.sign(data));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

BENCHMARK_CAPTURE(BM_Sign, rsa2048, Algorithm::rsa_sha256)->Arg(1024)->Arg(100 * 1024);
BENCHMARK_CAPTURE(BM_Sign, ed25519, Algorithm::ed25519_sha256)->Arg(1024)->Arg(100 * 1024);
BENCHMARK(BM_BodyHash)->Arg(1024)->Arg(100 * 1024);
BENCHMARK_CAPTURE(BM_KeySign, rsa2048, Algorithm::rsa_sha256);
BENCHMARK_CAPTURE(BM_KeySign, ed25519, Algorithm::ed25519_sha256);

}  // namespace

BENCHMARK_MAIN();
