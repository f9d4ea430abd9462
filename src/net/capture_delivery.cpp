#include "net/capture_delivery.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

namespace tern::net {

namespace asio = boost::asio;

namespace {

struct CaptureRun : std::enable_shared_from_this<CaptureRun> {
  asio::io_context& io;
  asio::thread_pool& pool;
  CaptureSink* sink;
  int64_t account_id;
  std::shared_ptr<ClientDelegate> d;
  ClientPeer peer{"sandbox", "", false};

  CaptureRun(asio::io_context& i, asio::thread_pool& p, CaptureSink* s, int64_t a,
             std::shared_ptr<ClientDelegate> dd)
      : io(i), pool(p), sink(s), account_id(a), d(std::move(dd)) {}

  static std::vector<smtp::client::Outcome> outcomes(size_t n, const core::Result<void>& r) {
    smtp::client::Outcome o;
    o.phase = smtp::client::Phase::dot;
    if (r) {
      // As if a server had said it: code and enhanced code go to their fields.
      o.code = 250;
      o.enhanced = "2.0.0";
      o.text = "250 2.0.0 captured (sandbox)";
      o.severity = core::Severity::ok;
      o.remote = true;
    } else {
      o.code = 451;
      o.enhanced = "4.3.0";
      o.text = "sandbox capture store: " + r.error().message;
      o.severity = core::Severity::temporary;
    }
    return std::vector<smtp::client::Outcome>(n, o);
  }

  // On io: the next message, or the end.
  void next() {
    auto m = d->next_message();
    if (!m) {
      d->done(std::nullopt, peer);
      return;
    }
    asio::post(pool, [self = shared_from_this(), m = std::move(*m)]() mutable {
      core::Result<void> r = core::ok();
      CaptureItem item;
      item.account_id = self->account_id;
      item.queue_id = m.queue_id;
      item.sender = m.envelope.sender;
      item.recipients = m.envelope.recipients;
      if (!self->sink) {
        r = core::Error::temp("the sandbox route is not available (no capture store)");
      } else if (!m.content) {
        r = core::Error::temp("cannot read message content");
      } else {
        char buf[65536];
        for (;;) {
          auto n = m.content->read(buf, sizeof buf);
          if (!n) {
            r = core::Error::temp("cannot read message content: " + n.error().message);
            break;
          }
          if (n.value() == 0) break;
          item.raw.append(buf, n.value());
        }
        if (r) r = self->sink->capture(std::move(item));
      }
      const size_t n = m.envelope.recipients.size();
      asio::post(self->io, [self, tag = m.tag, outs = outcomes(n, r)]() mutable {
        self->d->message_done(tag, std::move(outs), self->peer);
        self->next();
      });
    });
  }
};

}  // namespace

void start_capture(asio::io_context& io, asio::thread_pool& pool, CaptureSink* sink,
                   int64_t account_id, std::shared_ptr<ClientDelegate> delegate) {
  auto run = std::make_shared<CaptureRun>(io, pool, sink, account_id, std::move(delegate));
  asio::post(io, [run] { run->next(); });
}

}  // namespace tern::net
