// Spool::open and the thin public facade over detail::Core. The Core is shared with open
// Writers so a Writer that outlives the Spool fails cleanly instead of touching freed state.
#include "queue/spool.hpp"

#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "queue/file_ops.hpp"
#include "queue/record.hpp"
#include "queue/spool_core.hpp"

namespace tern::queue {

namespace {

class LogWriter final : public Spool::Writer {
 public:
  LogWriter(std::shared_ptr<detail::Core> core, const std::string& id) : core_(std::move(core)) {
    st_.id = id;
    st_.id_ok = record::valid_id(id);
  }
  ~LogWriter() override { core_->abort_writer(st_); }
  const std::string& id() const override { return st_.id; }
  core::Result<void> append(std::string_view bytes) override {
    return core_->append_data(st_, bytes);
  }
  uint64_t size() const override { return st_.size; }

  detail::WriterState st_;

 private:
  std::shared_ptr<detail::Core> core_;
};

class LogContentReader final : public Spool::ContentReader {
 public:
  std::string prepend;
  std::vector<std::pair<detail::SegmentPtr, detail::Extent>> parts;

  core::Result<size_t> read(char* buf, size_t n) override {
    if (pos_ < prepend.size()) {
      size_t k = std::min(n, prepend.size() - pos_);
      std::memcpy(buf, prepend.data() + pos_, k);
      pos_ += k;
      return k;
    }
    while (part_ < parts.size() && off_ >= parts[part_].second.len) {
      ++part_;
      off_ = 0;
    }
    if (part_ >= parts.size() || n == 0) return size_t{0};
    const auto& [seg, e] = parts[part_];
    size_t k = std::min<size_t>(n, e.len - off_);
    for (;;) {
      ssize_t got = ::pread(seg->fd, buf, k, static_cast<off_t>(e.off + off_));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return core::Error::temp("spool read failed");
      off_ += static_cast<size_t>(got);
      return static_cast<size_t>(got);
    }
  }
  uint64_t size() const override {
    uint64_t s = prepend.size();
    for (const auto& p : parts) s += p.second.len;
    return s;
  }

 private:
  size_t pos_ = 0, part_ = 0, off_ = 0;
};

class LogContentSource final : public Spool::ContentSource {
 public:
  std::string prepend;
  std::vector<std::pair<detail::SegmentPtr, detail::Extent>> parts;

  std::unique_ptr<Spool::ContentReader> reader() const override {
    auto r = std::make_unique<LogContentReader>();
    r->prepend = prepend;
    r->parts = parts;
    return r;
  }
  uint64_t size() const override {
    uint64_t s = prepend.size();
    for (const auto& p : parts) s += p.second.len;
    return s;
  }
};

class LogSpool final : public Spool {
 public:
  explicit LogSpool(std::shared_ptr<detail::Core> core) : core_(std::move(core)) {}
  ~LogSpool() override { core_->shutdown(); }

  std::unique_ptr<Writer> begin(const std::string& id) override {
    auto w = std::make_unique<LogWriter>(core_, id);
    core_->open_writer(w->st_);
    return w;
  }
  void commit(std::unique_ptr<Writer> w, QueuedMessage msg,
              std::function<void(CommitOutcome)> done) override {
    auto* lw = dynamic_cast<LogWriter*>(w.get());
    if (!lw) {
      if (done) done(CommitOutcome{false, false, "writer does not belong to this spool"});
      return;
    }
    core_->commit(lw->st_, std::move(msg), std::move(done));
  }
  std::vector<QueuedMessage> list() const override { return core_->list(); }
  std::optional<QueuedMessage> get(const std::string& id) const override { return core_->get(id); }
  core::Result<void> read_content(
      const std::string& id, const std::function<void(std::string_view)>& sink) const override {
    return core_->read_content(id, sink);
  }
  core::Result<std::unique_ptr<ContentReader>> open_content(const std::string& id) const override {
    auto r = std::make_unique<LogContentReader>();
    auto m = core_->get(id);
    if (!m) return core::Error::perm("no such message: " + id);
    r->prepend = std::move(m->prepend);
    if (auto p = core_->content_parts(id, r->parts); !p) return p.error();
    return std::unique_ptr<ContentReader>(std::move(r));
  }
  core::Result<std::shared_ptr<const ContentSource>> content_source(
      const QueuedMessage& m) const override {
    auto src = std::make_shared<LogContentSource>();
    if (auto p = core_->content_parts(m.id, src->parts); !p) return p.error();
    src->prepend = m.prepend;
    return std::shared_ptr<const ContentSource>(std::move(src));
  }
  std::vector<QueueEntry> index() const override { return core_->index(); }
  void update_async(const QueuedMessage& msg,
                    std::function<void(core::Result<void>)> done) override {
    core_->update_async(msg, std::move(done));
  }
  void finish_async(const std::string& id, std::function<void(core::Result<void>)> done) override {
    core_->finish_async(id, std::move(done));
  }
  core::Result<void> update(const QueuedMessage& msg) override { return core_->update(msg); }
  core::Result<void> finish(const std::string& id) override { return core_->finish(id); }
  Stats stats() const override { return core_->stats(); }
  core::Result<void> checkpoint() override { return core_->checkpoint_now(); }

 private:
  std::shared_ptr<detail::Core> core_;
};

}  // namespace

core::Result<std::unique_ptr<Spool>> open_spool(const std::string& dir, SpoolOptions opt,
                                                std::shared_ptr<FileOps> ops) {
  if (sodium_init() < 0) return core::Error::perm("libsodium initialisation failed");
  auto core = std::make_shared<detail::Core>(dir, opt, ops ? std::move(ops) : default_file_ops());
  if (auto r = core->recover(); !r) return r.error();
  core->start();
  return std::unique_ptr<Spool>(std::make_unique<LogSpool>(std::move(core)));
}

core::Result<std::unique_ptr<Spool>> Spool::open(const std::string& dir, SpoolOptions opt) {
  return open_spool(dir, opt, default_file_ops());
}

}  // namespace tern::queue
