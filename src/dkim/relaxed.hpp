// Relaxed body canonicalization (RFC 6376 §3.4.4) as a streaming state machine, shared by
// BodyHasher (sink = SHA-256) and relaxed_body() (sink = a string); and the appending form of
// relaxed header canonicalization (§3.4.2) used by the signer. Internal to src/dkim.
//
// Rules, applied to lines ended by CRLF:
//   - a run of WSP (SP, HTAB) inside a line becomes one SP; WSP at the end of a line is dropped;
//   - empty lines at the end of the body are dropped; since "at the end" is known only at the end,
//     line breaks are not emitted as they arrive but counted (pending_crlf_) and emitted when
//     content follows;
//   - a non-empty body that does not end with CRLF gets one; an empty body canonicalizes to
//     nothing (the empty string, whose SHA-256 is bh=47DEQ...; "simple" would hash a CRLF).
// Bare CR and bare LF are not line ends (RFC 6376 lines end with CRLF): they are content.
// A final line without CRLF is a line like the others, so its trailing WSP is dropped too
// (dkimpy keeps one SP there; unreachable over SMTP, where the body always ends with CRLF).
//
// Invariant: the output depends only on the concatenation of the inputs, never on how they were
// split (the tests check every split point).
//
// Speed: the output equals the input except around WSP runs, HTAB, trailing WSP and line ends
// that may turn out to be trailing. While nothing is pending, runs of input that are known to be
// copied unchanged (ordinary bytes, a single SP followed by an ordinary byte, CRLF followed by an
// ordinary byte) go to the sink as one span, straight from the caller's buffer.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tern::dkim::detail {

// Bytes that a relaxed canonicalization may change: WSP and line-break bytes.
inline bool is_special(unsigned char c, bool lf) {
  return c == ' ' || c == '\t' || c == '\r' || (lf && c == '\n');
}

// The first index in [i, n) where p[i] would not be copied unchanged by itself: an HTAB, a CR
// (and an LF when kLf: header fields), or an SP that ends a line, the input or is followed by
// more white space. Returns n if there is none. Everything before it is plain text and single
// spaces between words, which both canonicalizations keep as they are. 16 bytes at a time with
// SSE2 (part of every x86-64), byte by byte elsewhere.
template <bool kLf>
inline size_t plain_run_end(const unsigned char* p, size_t i, size_t n) {
#if defined(__SSE2__)
  const __m128i sp = _mm_set1_epi8(' ');
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  while (i + 17 <= n) {  // reads p[i .. i+16]: the byte after the block too
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 1));
    __m128i brk = _mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, cr));
    __m128i next_ws =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(next, sp), _mm_cmpeq_epi8(next, tab)),
                     _mm_cmpeq_epi8(next, cr));
    if constexpr (kLf) {
      brk = _mm_or_si128(brk, _mm_cmpeq_epi8(v, lf));
      next_ws = _mm_or_si128(next_ws, _mm_cmpeq_epi8(next, lf));
    }
    const __m128i bad = _mm_or_si128(brk, _mm_and_si128(_mm_cmpeq_epi8(v, sp), next_ws));
    const int mask = _mm_movemask_epi8(bad);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    i += 16;
  }
#endif
  for (; i < n; ++i) {
    const unsigned char c = p[i];
    if (c == '\t' || c == '\r' || (kLf && c == '\n')) return i;
    if (c == ' ' && (i + 1 == n || is_special(p[i + 1], kLf))) return i;
  }
  return n;
}

// relaxed_header() appending to out (no allocation per field when signing).
void append_relaxed_header(std::string& out, std::string_view raw_field);

// Sink: callable void(const char* data, size_t len).
template <class Sink>
class RelaxedBody {
 public:
  explicit RelaxedBody(Sink& sink) : sink_(sink) {}

  void update(std::string_view in) {
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const size_t n = in.size();
    size_t i = 0;
    while (i < n) {
      if (pending_crlf_ == 0 && !pending_wsp_ && !saw_cr_) {
        const size_t start = i;
        for (;;) {
          i = plain_run_end<false>(p, i, n);
          if (i + 2 < n && p[i] == '\r' && p[i + 1] == '\n' && kOrdinary[p[i + 2]]) {
            i += 3;
            continue;
          }
          break;
        }
        if (i > start) {
          sink_(reinterpret_cast<const char*>(p + start), i - start);
          any_ = true;
        }
        if (i == n) break;
      }
      step(p[i]);
      ++i;
    }
  }

  // Ends the body: emits the final CRLF of a non-empty body and resets for the next body.
  void finish() {
    if (saw_cr_) {
      saw_cr_ = false;
      content('\r');
    }
    if (any_) sink_("\r\n", 2);
    pending_crlf_ = 0;
    pending_wsp_ = false;
    any_ = false;
  }

 private:
  static constexpr std::array<bool, 256> kOrdinary = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c) t[c] = !(c == ' ' || c == '\t' || c == '\r');
    return t;
  }();

  void step(unsigned char c) {
    if (saw_cr_) {
      saw_cr_ = false;
      if (c == '\n') {
        pending_wsp_ = false;  // WSP at the end of a line is dropped
        ++pending_crlf_;
        return;
      }
      content('\r');  // a bare CR is content
    }
    if (c == '\r') {
      saw_cr_ = true;
    } else if (c == ' ' || c == '\t') {
      pending_wsp_ = true;
    } else {
      content(static_cast<char>(c));
    }
  }

  void content(char c) {
    static constexpr char kCrlfs[] =
        "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
        "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
    while (pending_crlf_ > 0) {
      const uint64_t k = pending_crlf_ < 32 ? pending_crlf_ : 32;
      sink_(kCrlfs, static_cast<size_t>(2 * k));
      pending_crlf_ -= k;
    }
    if (pending_wsp_) {
      sink_(" ", 1);
      pending_wsp_ = false;
    }
    sink_(&c, 1);
    any_ = true;
  }

  Sink& sink_;
  uint64_t pending_crlf_ = 0;  // line ends seen and not yet emitted (maybe trailing empty lines)
  bool pending_wsp_ = false;   // a WSP run seen and not yet emitted (maybe trailing WSP)
  bool saw_cr_ = false;        // last byte was CR: a line end if LF follows, else content
  bool any_ = false;           // some content emitted: the body is non-empty
};

}  // namespace tern::dkim::detail
