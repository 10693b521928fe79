#include "sync/file_source.hpp"

#include "sync/keyset_diff.hpp"
#include "sync/keyset_file.hpp"

#include <map>

namespace edgekey::sync {

namespace {
constexpr uint64_t kDebounceMs = 20;  // an editor's or edgekeyctl's burst of events

template <class H>
void close_and_free(H *&h) {
  if (!h) return;
  uv_close(reinterpret_cast<uv_handle_t *>(h), [](uv_handle_t *p) { delete reinterpret_cast<H *>(p); });
  h = nullptr;
}
}  // namespace

FileSource::FileSource(uv_loop_t *loop, std::string path, Applier &applier, LogFn log)
    : loop_(loop), path_(std::move(path)), applier_(applier), log_(std::move(log)) {
  size_t slash = path_.rfind('/');
  dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  base_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
}

FileSource::~FileSource() { close(); }

void FileSource::close() {
  if (watch_) uv_fs_event_stop(watch_);
  if (debounce_) uv_timer_stop(debounce_);
  close_and_free(watch_);
  close_and_free(debounce_);
}

bool FileSource::read(std::vector<KeyRecord> &out) {
  KeysetParse p = load_keyset_file(path_);
  if (!p.ok()) {
    healthy_ = false;
    log_(Level::Error, "keyset " + p.error + " (the table keeps its keys)");
    return false;
  }
  std::map<std::string, const KeyRecord *> previous;
  for (const auto &r : current_) previous[r.id] = &r;
  for (const auto &rej : p.rejected) {
    auto it = previous.find(rej.key_id);
    const bool kept = !rej.key_id.empty() && it != previous.end();
    log_(Level::Warn, "keyset " + rej.message + (kept ? " (its previous version stays)" : " (skipped)"));
    if (kept) p.records.push_back(*it->second);
  }
  healthy_ = true;
  out = std::move(p.records);
  return true;
}

bool FileSource::start() {
  debounce_ = new uv_timer_t;
  uv_timer_init(loop_, debounce_);
  debounce_->data = this;
  watch_ = new uv_fs_event_t;
  uv_fs_event_init(loop_, watch_);
  watch_->data = this;
  if (int rc = uv_fs_event_start(watch_, on_fs_event, dir_.c_str(), 0); rc != 0)
    log_(Level::Error, "keyset directory " + dir_ + ": cannot watch (" + uv_strerror(rc) +
                           "): changes need SIGHUP");
  return reload();
}

bool FileSource::reload() {
  std::vector<KeyRecord> next;
  if (!read(next)) return false;
  ++reloads_;
  const uint64_t revision = applier_.revision() + 1;
  if (!loaded_) {
    applier_.load(next, revision);
    loaded_ = true;
    log_(Level::Info, "keyset " + path_ + ": loaded " + std::to_string(applier_.size()) + " keys");
  } else {
    KeysetDiff d = diff_keysets(current_, next);
    if (!d.empty()) {
      applier_.apply(d, revision);
      log_(Level::Info, "keyset " + path_ + ": " + std::to_string(d.upserts.size()) + " changed, " +
                            std::to_string(d.removals.size()) + " removed");
    }
  }
  current_ = std::move(next);
  applier_.contact(int64_t(time(nullptr)));
  if (on_change) on_change();
  return true;
}

void FileSource::on_fs_event(uv_fs_event_t *h, const char *filename, int, int status) {
  auto *self = static_cast<FileSource *>(h->data);
  if (status == 0 && filename && self->base_ != filename) return;  // another file of the directory
  uv_timer_start(self->debounce_, on_timer, kDebounceMs, 0);
}

void FileSource::on_timer(uv_timer_t *t) { static_cast<FileSource *>(t->data)->reload(); }

}  // namespace edgekey::sync
