#include "app/region_secrets.hpp"

#include <sodium.h>

#include <stdexcept>

#include "app/secret_files.hpp"
#include "core/clock.hpp"

namespace tern::app {

namespace {

std::string to_hex(const std::string& raw) {
  std::string out(raw.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  out.pop_back();
  return out;
}

bool from_hex(const std::string& hex, std::string& out) {
  out.assign(hex.size() / 2, '\0');
  size_t len = 0;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, nullptr) != 0 ||
      len * 2 != hex.size())
    return false;
  out.resize(len);
  return true;
}

}  // namespace

std::string region_secret(store::Cluster& cluster, const store::Sealer& sealer,
                          std::string_view name, const std::string& local, int64_t now_ms) {
  const std::string what = "cluster secret " + std::string(name);
  auto stored = cluster.shared_secret(name, sealer.seal(to_hex(local)), now_ms);
  if (!stored) throw std::runtime_error(what + ": " + stored.error().message);
  auto hex = sealer.open(*stored);
  if (!hex)
    throw std::runtime_error(what + ": " + hex.error().message +
                             " (every node of a region needs the same master_key_file)");
  std::string out;
  if (!from_hex(*hex, out) || out.empty()) throw std::runtime_error(what + ": damaged");
  return out;
}

std::string adopt_region_secret(store::Cluster& cluster, const store::Sealer& sealer,
                                std::string_view name, const std::string& path,
                                const std::string& local, bool text, bool* replaced) {
  std::string region = region_secret(cluster, sealer, name, local, core::SystemClock().now_ms());
  if (replaced) *replaced = region != local;
  if (region != local) replace_secret_file(path, text ? region + "\n" : region);
  return region;
}

}  // namespace tern::app
