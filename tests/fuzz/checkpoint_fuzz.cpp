// Fuzzes the spool's index checkpoint decoder (queue/checkpoint.hpp): a checkpoint file is
// bytes on disk that a crash, a bad disk or a foreign file can leave in any shape.
// Invariants:
//  - never a crash or UB (ASan/UBSan), and no allocation larger than the input justifies
//    (every count is bounded by the bytes left), whatever the bytes;
//  - a body the decoder accepts is exactly what the encoder writes for what it decoded
//    (round trip to the same bytes), and framed (magic, length, checksum) it decodes again;
//  - the input taken as a whole file decodes only with a valid frame and checksum.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "queue/checkpoint.hpp"

using namespace tern::queue::detail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool init = sodium_init() >= 0;
  if (!init) std::abort();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<CheckpointLive> lives;
  auto h = decode_checkpoint_body(in, [&](CheckpointLive& m) {
    lives.push_back(m);
    return true;
  });
  if (h) {
    CheckpointEncoder e(h.value());
    for (const auto& m : lives) e.add(m);
    const std::string file = e.finish();
    if (file.size() != in.size() + 16 + kCheckpointChecksum) std::abort();
    if (std::string_view(file).substr(16, in.size()) != in) std::abort();
    size_t n = 0;
    auto again = decode_checkpoint(file, [&](CheckpointLive&) { return ++n, true; });
    if (!again || n != lives.size()) std::abort();
  }
  (void)decode_checkpoint(in, [](CheckpointLive&) { return true; });
  return 0;
}
