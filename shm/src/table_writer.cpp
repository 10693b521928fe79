#include "shm/src/table_writer_impl.hpp"

#include "shm/src/arena_record.hpp"
#include "shm/writer/pepper.hpp"
#include "shm/writer/token.hpp"
#include "shm/writer/usage_reader.hpp"

#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace edgekey::shm {

const char *write_error_text(WriteError e) {
  switch (e) {
    case WriteError::None: return "ok";
    case WriteError::IdTooLong: return "key id or workspace longer than 47 bytes";
    case WriteError::BadRole: return "role is not one of the configured roles";
    case WriteError::AllowListTooLong:
      return "more than 256 allowed origins or CIDRs, or an origin longer than 1024 bytes";
    case WriteError::BadEnum: return "type or env outside secret|publishable, live|test";
    case WriteError::NoRoom: return "the table has no room to grow";
  }
  return "unknown write error";
}

namespace {

constexpr uint64_t kControlSize = 4096;
constexpr double kGrowTargetLoad = 0.5;

void check_options(const TableOptions &o) {
  auto bad = [&](const std::string &what) { throw TableError("table options: " + what); };
  if (o.name.empty() || o.name.size() > 200 || o.name.find('/') != std::string::npos)
    bad("table.name '" + o.name + "' must be 1..200 characters without '/'");
  if (!valid_prefix(o.key_prefix))
    bad("key_prefix '" + o.key_prefix + "' must match [a-z][a-z0-9]{1,15}");
  if (o.permissions.size() > kMaxPermissions) bad("more than 64 permissions");
  if (o.roles.size() > kMaxRoles) bad("more than 64 roles");
  for (const auto &p : o.permissions)
    if (p.empty() || p.size() > kMaxNameLen) bad("permission '" + p + "' must be 1..31 bytes");
  for (const auto &r : o.roles)
    if (r.empty() || r.size() > kMaxNameLen) bad("role '" + r + "' must be 1..31 bytes");
  if (o.pepper_path.size() > kMaxPathLen) bad("pepper_file path longer than 255 bytes");
  if (!(o.max_load >= 0.1 && o.max_load <= 0.95)) bad("max_load must be within 0.1..0.95");
  std::string pepper;
  if (!o.pepper_path.empty() && !read_pepper_file(o.pepper_path, pepper))
    throw TableError(pepper_file_problem(o.pepper_path));
}

long group_id(const std::string &group) {
  if (group.empty()) return -1;
  struct group gr, *res = nullptr;
  std::vector<char> buf(16384);
  if (getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &res) != 0 || !res)
    throw TableError("table.readers_group '" + group +
                     "' does not exist: create it (systemd-sysusers) or fix edgekey.yaml");
  return long(res->gr_gid);
}

bool same_settings(const DataHeader &h, const TableOptions &o) {
  if (o.key_prefix != h.key_prefix || bool(h.legacy_tokens) != o.legacy_tokens) return false;
  if (h.n_permissions != o.permissions.size() || h.n_roles != o.roles.size()) return false;
  for (size_t i = 0; i < o.permissions.size(); ++i)
    if (o.permissions[i] != h.permissions[i]) return false;
  for (size_t i = 0; i < o.roles.size(); ++i)
    if (o.roles[i] != h.roles[i]) return false;
  if (o.pepper_path.empty()) return h.hash_mode == uint8_t(HashScheme::Sha256);
  std::string pepper;
  uint8_t fp[32];
  if (h.hash_mode != uint8_t(HashScheme::HmacSha256) || !read_pepper_file(o.pepper_path, pepper))
    return false;
  pepper_fingerprint(pepper, fp);
  return std::memcmp(fp, h.pepper_fingerprint, 32) == 0 && o.pepper_path == h.pepper_path;
}

}  // namespace

TableWriter::Impl::Impl(TableOptions opts) : opts_(std::move(opts)) {
  check_options(opts_);
  if (const char *fp = getenv("EDGEKEY_FAILPOINT"); fp && std::strncmp(fp, "slot_write:", 11) == 0) {
    char *end = nullptr;
    failpoint_ = std::strtoull(fp + 11, &end, 10);
    if (end && *end == ':')
      failpoint_words_ = unsigned(std::min<unsigned long>(std::strtoul(end + 1, nullptr, 10), kSlotWords - 1));
  }
  dir_ = shm::segment_dir(opts_.directory);
  access_.mode = opts_.mode;
  access_.gid = group_id(opts_.readers_group);
  check_huge_pages(opts_);
  open_control();
  attach_current();
  // Beside the table, the directory where readers count their answers (best
  // effort: without it they validate without counting; edgekeyd logs why).
  prepare_usage_dir(dir_.address(opts_.name), opts_.readers_group);
}

TableWriter::Impl::~Impl() {
  if (ctl_) ctl_->writer_pid.store(0, std::memory_order_relaxed);
}

void TableWriter::Impl::open_control() {
  const std::string &name = opts_.name;
  bool created = false;
  try {
    control_seg_ = RwSegment::open(dir_, name);
  } catch (const TableError &) {
    try {
      control_seg_ = RwSegment::create(dir_, name, kControlSize, access_);
      created = true;
    } catch (const TableError &) {
      control_seg_ = RwSegment::open(dir_, name);  // another writer created it meanwhile
    }
  }
  if (control_seg_.region.get_size() < sizeof(ControlHeader))
    throw TableError(dir_.path(name) + " is too small to be an edgekey table: remove it");
  ctl_ = static_cast<ControlHeader *>(control_seg_.region.get_address());
  if (flock(control_seg_.fd(), LOCK_EX | LOCK_NB) != 0) {
    long pid = long(ctl_->writer_pid.load(std::memory_order_relaxed));
    ctl_ = nullptr;
    throw TableError("table " + name + " is already written by pid " + std::to_string(pid) +
                     ": stop that edgekeyd, or give this one another table.name");
  }
  const uint64_t magic = ctl_->magic.load(std::memory_order_acquire);
  if (created || magic == 0) {
    ctl_->layout_version = kLayoutVersion;
    ctl_->header_size = sizeof(ControlHeader);
    ctl_->generation.store(0, std::memory_order_relaxed);
    ctl_->magic.store(kControlMagic, std::memory_order_release);
  } else if (magic != kControlMagic || ctl_->layout_version != kLayoutVersion ||
             ctl_->header_size != sizeof(ControlHeader)) {
    ctl_ = nullptr;
    throw TableError(dir_.path(name) +
                     " is not an edgekey table of this layout version: remove it (and its .g* "
                     "segments) once no reader needs it, or choose another table.name");
  }
  ctl_->writer_pid.store(getpid(), std::memory_order_relaxed);
  ctl_->staleness.store(pack_staleness(opts_.staleness_max_s, opts_.staleness_policy),
                        std::memory_order_relaxed);
}

// Keeps the generation a previous writer published; removes segments of
// generations that were never published (a writer killed mid-rebuild).
void TableWriter::Impl::attach_current() {
  const uint64_t gen = ctl_->generation.load(std::memory_order_acquire);
  if (gen != 0) {
    try {
      cur_ = Generation::attach(dir_, opts_.name, gen, use_huge());
      torn_ = cur_->recount();  // touches every slot: measure_huge() then sees them all
      measure_huge();
      attached_ = true;
      settings_match_ = same_settings(cur_->header(), opts_);
    } catch (const TableError &) {
      cur_.reset();  // unusable: the first load() replaces it
      settings_match_ = false;
    }
  }
  for (const std::string &n : segment_names(dir_, opts_.name + ".g"))
    if (n != Generation::segment_name(opts_.name, gen)) remove_segment(dir_, n);
  sync_counts();
}

std::unique_ptr<Generation> TableWriter::Impl::new_generation(uint64_t capacity, uint64_t arena_size) {
  uint64_t next = ctl_->generation.load(std::memory_order_relaxed) + 1;
  if (cur_ && cur_->generation() >= next) next = cur_->generation() + 1;
  if (opts_.huge_pages != HugePages::Off) host_ = huge_page_host();  // the host may have changed
  // A filesystem known to lack the room fails here, before a segment is
  // created and fills it (briefly, for every other user) only to be removed.
  const Generation::Plan plan = Generation::plan(dir_, capacity, arena_size, use_huge());
  const int64_t free = dir_.free_bytes();
  if (free >= 0 && uint64_t(free) < plan.segment_size)
    throw TableError("table " + dir_.address(opts_.name) + " cannot take a new generation of " +
                     std::to_string(plan.capacity) + " slots: it " + dir_.room_problem(plan.segment_size));
  return Generation::create(dir_, opts_.name, next, capacity, arena_size, access_, opts_, use_huge());
}

void TableWriter::Impl::publish(std::unique_ptr<Generation> next) {
  next->seal();
  std::unique_ptr<Generation> old;
  if (next.get() != cur_.get()) old = std::exchange(cur_, std::move(next));
  ctl_->capacity.store(cur_->capacity(), std::memory_order_relaxed);
  ctl_->published_at.store(int64_t(time(nullptr)), std::memory_order_relaxed);
  ctl_->generation.store(cur_->generation(), std::memory_order_release);
  sync_counts();
  if (old) old->unlink();
  measure_huge();
}

void TableWriter::Impl::check_huge_pages(const TableOptions &o) {
  if (o.huge_pages == HugePages::Off || dir_.kind == DirKind::Hugetlbfs) return;
  host_ = edgekey::shm::huge_page_host();
  if (o.huge_pages == HugePages::Require && !host_.allows)
    throw TableError("table.huge_pages is require, but this host gives /dev/shm segments no huge "
                     "pages (" + host_.describe() + "): " + host_.how_to_enable() +
                     "; or set table.huge_pages: try");
}

std::string TableWriter::huge_page_report() const {
  const Impl &w = *impl_;
  // "<held> of <size> MiB of generation <G>"
  const auto held = [&] {
    return std::to_string(w.huge_bytes_ >> 20) + " of " + std::to_string(w.cur_->segment_bytes() >> 20) +
           " MiB of generation " + std::to_string(w.cur_->generation());
  };
  if (w.dir_.kind == DirKind::Hugetlbfs) {
    const std::string head = "table.directory " + w.dir_.describe();
    return w.cur_ ? head + ": " + held() + " in huge pages" : head + ": no generation built yet";
  }
  const std::string head = std::string("table.huge_pages ") + huge_pages_name(w.opts_.huge_pages);
  if (w.opts_.huge_pages == HugePages::Off) return head + ": 4 KiB pages";
  if (!w.host_.allows)
    return head + ": 4 KiB pages, the host allows no huge pages for /dev/shm (" + w.host_.describe() +
           "); to enable: " + w.host_.how_to_enable();
  if (!w.cur_) return head + ": allowed (" + w.host_.describe() + "), no generation built yet";
  return head + ": " + held() + " in 2 MiB pages (" + w.host_.describe() + ")";
}

void TableWriter::Impl::sync_counts() {
  if (!ctl_) return;
  ctl_->live_keys.store(cur_ ? cur_->live : 0, std::memory_order_relaxed);
  ctl_->revoked_keys.store(cur_ ? cur_->revoked : 0, std::memory_order_relaxed);
  ctl_->tombstones.store(cur_ ? cur_->tombstones : 0, std::memory_order_relaxed);
}

WriteError TableWriter::Impl::encode(const TableRecord &r, SlotImage &img,
                               std::vector<uint8_t> &arena) const {
  if (r.key_id.size() > kMaxIdLen || r.workspace.size() > kMaxIdLen) return WriteError::IdTooLong;
  if (r.role >= opts_.roles.size() && !opts_.roles.empty()) return WriteError::BadRole;
  if (r.type < 1 || r.type > 2 || r.env < 1 || r.env > 2) return WriteError::BadEnum;
  if (r.origins.size() > kMaxAllowEntries || r.cidrs.size() > kMaxAllowEntries)
    return WriteError::AllowListTooLong;
  for (const auto &o : r.origins)
    if (o.size() > kMaxOriginLen) return WriteError::AllowListTooLong;

  img = SlotImage{};
  img.state = uint8_t(SlotState::Live);
  img.status = uint8_t(r.revoked ? KeyStatus::Revoked : KeyStatus::Active);
  img.type = r.type;
  img.env = r.env;
  img.role = r.role;
  img.id_len = uint8_t(r.key_id.size());
  img.ws_len = uint8_t(r.workspace.size());
  std::memcpy(img.hash, r.hash.data(), 32);
  img.perms = r.perms;
  img.expires_at = r.expires_at;
  if (r.wrong_region) img.flags |= kFlagWrongRegion;
  if (!r.origins.empty()) img.flags |= kFlagOrigins;
  if (!r.cidrs.empty()) img.flags |= kFlagCidrs;

  arena.clear();
  if (ids_in_arena(r)) {
    img.flags |= kFlagIdsInArena;
  } else {
    std::memcpy(img.ids, r.key_id.data(), r.key_id.size());
    std::memcpy(img.ids + r.key_id.size(), r.workspace.data(), r.workspace.size());
  }
  encode_arena_record(r, arena);
  return WriteError::None;
}

// The failpoint: part of a seqlock write, then death.
void TableWriter::Impl::die_mid_write(Generation &g, uint64_t slot, const SlotImage &img) {
  g.write_torn(slot, img, failpoint_words_);
  raise(SIGKILL);
  _exit(137);  // not reached
}

void TableWriter::Impl::store(Generation &g, const SlotImage &src,
                        const std::vector<uint8_t> &arena, Generation::Probe at) {
  SlotImage img = src;
  if (!arena.empty()) {
    img.arena_off = g.arena_append(arena.data(), arena.size());
    img.arena_len = uint32_t(arena.size());
  }
  const SlotImage old = g.read(at.slot);
  if (at.found) {
    (old.status == uint8_t(KeyStatus::Revoked) ? g.revoked : g.live) -= 1;
  } else if (old.state == uint8_t(SlotState::Tombstone)) {
    g.tombstones -= 1;
  }
  (img.status == uint8_t(KeyStatus::Revoked) ? g.revoked : g.live) += 1;
  if (!at.found) g.cover(at.slot, img.hash);
  write_slot(g, at.slot, img);
}

// Makes room in the current generation for one more record: grows when the
// load would pass max_load, compacts into a larger arena when it is full.
// False when that needs a new generation and none can be had: the current
// one stays as it was, and room_problem() says why.
bool TableWriter::Impl::ensure_room(size_t arena_needed, bool new_slot) {
  const bool slots_full =
      new_slot && double(cur_->occupied() + 1) > opts_.max_load * double(cur_->capacity());
  const bool arena_full = arena_needed && !cur_->arena_fits(arena_needed);
  if (!slots_full && !arena_full) return true;
  const Generation::Plan plan = growth_plan(arena_needed);
  auto next = try_new_generation(plan.capacity, plan.arena_size);
  if (!next) return false;
  copy_live(*cur_, *next);
  publish(std::move(next));
  return true;
}

Generation::Plan TableWriter::Impl::growth_plan(size_t arena_needed) const {
  uint64_t cap = cur_->capacity();
  const uint64_t keys = cur_->live + cur_->revoked + 1;
  if (double(keys) > opts_.max_load * double(cap)) cap = uint64_t(std::ceil(keys / kGrowTargetLoad));
  const uint64_t arena = std::max<uint64_t>(cur_->arena_used() * 2 + arena_needed * 2, 64 << 10);
  return Generation::plan(dir_, cap, arena, use_huge());
}

std::unique_ptr<Generation> TableWriter::Impl::try_new_generation(uint64_t capacity, uint64_t arena_size) {
  try {
    auto g = new_generation(capacity, arena_size);
    room_problem_.clear();
    return g;
  } catch (const TableError &e) {
    room_problem_ = e.what();
    return nullptr;
  }
}

bool TableWriter::room_to_grow() const {
  const Impl &w = *impl_;
  if (!w.cur_) return true;
  const int64_t free = w.dir_.free_bytes();
  return free < 0 || uint64_t(free) >= w.growth_plan(0).segment_size;
}

WriteError TableWriter::put(const TableRecord &r) {
  Impl &w = *impl_;
  SlotImage img;
  WriteError err = w.encode(r, img, w.scratch_);
  if (err != WriteError::None) return err;
  if (!w.cur_ && !(w.cur_ = w.try_new_generation(w.opts_.capacity, 64 << 10))) return WriteError::NoRoom;
  Generation::Probe p = w.cur_->find(r.hash.data());
  const SlotImage at = p.slot == Generation::npos ? SlotImage{} : w.cur_->read(p.slot);
  const bool new_slot = !p.found && at.state != uint8_t(SlotState::Tombstone);
  const uint64_t before = w.cur_->generation();
  if (!w.ensure_room(w.scratch_.size(), new_slot)) return WriteError::NoRoom;
  if (w.cur_->generation() != before) p = w.cur_->find(r.hash.data());
  w.store(*w.cur_, img, w.scratch_, p);
  // The first change to a table nothing was published for publishes it.
  if (w.cur_->generation() != w.ctl_->generation.load(std::memory_order_relaxed)) w.publish(std::move(w.cur_));
  else w.sync_counts();
  return WriteError::None;
}

bool TableWriter::revoke(const std::array<uint8_t, 32> &hash) {
  Impl &w = *impl_;
  if (!w.cur_) return false;
  Generation::Probe p = w.cur_->find(hash.data());
  if (!p.found) return false;
  SlotImage img = w.cur_->read(p.slot);
  if (img.status != uint8_t(KeyStatus::Revoked)) {
    img.status = uint8_t(KeyStatus::Revoked);
    w.write_slot(*w.cur_, p.slot, img);
    w.cur_->live -= 1;
    w.cur_->revoked += 1;
    w.sync_counts();
  }
  return true;
}

bool TableWriter::remove(const std::array<uint8_t, 32> &hash) {
  Impl &w = *impl_;
  if (!w.cur_) return false;
  Generation::Probe p = w.cur_->find(hash.data());
  if (!p.found) return false;
  SlotImage img = w.cur_->read(p.slot);
  (img.status == uint8_t(KeyStatus::Revoked) ? w.cur_->revoked : w.cur_->live) -= 1;
  img.state = uint8_t(SlotState::Tombstone);
  w.write_slot(*w.cur_, p.slot, img);
  w.cur_->tombstones += 1;
  w.sync_counts();
  return true;
}

std::optional<TableRecord> TableWriter::get(const std::array<uint8_t, 32> &hash) const {
  const Impl &w = *impl_;
  if (!w.cur_) return std::nullopt;
  Generation::Probe p = w.cur_->find(hash.data());
  if (!p.found) return std::nullopt;
  const SlotImage img = w.cur_->read(p.slot);
  TableRecord r;
  r.hash = hash;
  r.role = img.role;
  r.perms = img.perms;
  r.type = img.type;
  r.env = img.env;
  r.revoked = img.status == uint8_t(KeyStatus::Revoked);
  r.wrong_region = img.flags & kFlagWrongRegion;
  r.expires_at = img.expires_at;
  // The writer's own record: decoded with the readers' checks all the same.
  if (img.flags & kFlagIdsInArena) {
    std::string_view id, ws;
    ArenaRecord a;
    if (a.open(w.cur_->arena(), w.cur_->arena_size(), img) && a.ids(id, ws)) {
      r.key_id = id;
      r.workspace = ws;
    }
  } else {
    r.key_id.assign(img.ids, img.id_len);
    r.workspace.assign(img.ids + img.id_len, img.ws_len);
  }
  if (img.flags & (kFlagOrigins | kFlagCidrs)) {
    ArenaRecord a;
    if (a.open(w.cur_->arena(), w.cur_->arena_size(), img)) {
      a.origins([&](std::string_view o) {
        r.origins.emplace_back(o);
        return false;
      });
      a.cidrs([&](const Cidr &c) {
        r.cidrs.push_back(c);
        return false;
      });
    }
  }
  return r;
}

void TableWriter::load(const std::vector<TableRecord> &records, std::vector<size_t> *rejected) {
  Impl &w = *impl_;
  uint64_t arena = 64 << 10;
  for (const auto &r : records) arena += round_up(arena_record_bytes(r), 8);
  const uint64_t need = uint64_t(std::ceil(double(records.size() + 1) / w.opts_.max_load));
  auto next = w.new_generation(std::max(w.opts_.capacity, need), arena + arena / 4);
  SlotImage img;
  constexpr size_t kAhead = 8;  // records whose slots are on their way while one is stored
  for (size_t i = 0; i < records.size(); ++i) {
    if (i + kAhead < records.size()) next->prefetch(records[i + kAhead].hash.data());
    if (w.encode(records[i], img, w.scratch_) != WriteError::None) {
      if (rejected) rejected->push_back(i);
      continue;
    }
    w.store(*next, img, w.scratch_, next->find(records[i].hash.data()));
  }
  w.publish(std::move(next));
  w.settings_match_ = true;
  w.torn_ = 0;
}

void TableWriter::Impl::copy_live(const Generation &from, Generation &to) {
  std::vector<uint8_t> bytes;
  for (uint64_t i = 0; i < from.capacity(); ++i) {
    SlotImage img = from.read(i);
    if (img.state != uint8_t(SlotState::Live) || (img.seq & 1)) continue;  // torn: the source rewrites it
    bytes.clear();
    if (img.arena_len && img.arena_off + uint64_t(img.arena_len) <= from.arena_used())
      bytes.assign(from.arena() + img.arena_off, from.arena() + img.arena_off + img.arena_len);
    img.arena_off = img.arena_len = 0;
    store(to, img, bytes, to.find(img.hash));
  }
}

void TableWriter::rebuild(uint64_t capacity) {
  Impl &w = *impl_;
  if (!w.cur_) {
    load({});
    return;
  }
  const uint64_t keys = w.cur_->live + w.cur_->revoked;
  uint64_t cap = std::max(capacity, uint64_t(std::ceil(double(keys + 1) / w.opts_.max_load)));
  auto next = w.new_generation(cap, std::max<uint64_t>(w.cur_->arena_used() + (64 << 10), 64 << 10));
  w.copy_live(*w.cur_, *next);
  w.publish(std::move(next));
  w.settings_match_ = true;
  w.torn_ = 0;
}

void TableWriter::set_options(const TableOptions &opts) {
  Impl &w = *impl_;
  check_options(opts);
  if (opts.name != w.opts_.name) throw TableError("table.name cannot change without a restart");
  if (opts.directory != w.opts_.directory)
    throw TableError("table.directory cannot change without a restart");
  w.check_huge_pages(opts);
  const long gid = group_id(opts.readers_group);
  w.opts_ = opts;
  w.access_.mode = opts.mode;
  w.access_.gid = gid;
  w.ctl_->staleness.store(pack_staleness(w.opts_.staleness_max_s, w.opts_.staleness_policy),
                        std::memory_order_relaxed);
  w.settings_match_ = w.cur_ && same_settings(w.cur_->header(), w.opts_);
}

void TableWriter::touch_contact(int64_t t) {
  Impl &w = *impl_;
  w.ctl_->last_contact.store(t, std::memory_order_relaxed);
}
void TableWriter::heartbeat(int64_t t) {
  Impl &w = *impl_;
  w.ctl_->heartbeat.store(t, std::memory_order_relaxed);
}
void TableWriter::set_revision(uint64_t rev) {
  Impl &w = *impl_;
  w.ctl_->upstream_revision.store(rev, std::memory_order_relaxed);
}
uint64_t TableWriter::revision() const {
  const Impl &w = *impl_;
  return w.ctl_->upstream_revision.load(std::memory_order_relaxed);
}
int64_t TableWriter::last_contact() const {
  const Impl &w = *impl_;
  return w.ctl_->last_contact.load(std::memory_order_relaxed);
}

TableWriter::Stats TableWriter::stats() const {
  const Impl &w = *impl_;
  Stats s{};
  if (!w.cur_) return s;
  s.generation = w.cur_->generation();
  s.capacity = w.cur_->capacity();
  s.live = w.cur_->live;
  s.revoked = w.cur_->revoked;
  s.tombstones = w.cur_->tombstones;
  s.arena_used = w.cur_->arena_used();
  s.arena_size = w.cur_->arena_size();
  s.segment_bytes = w.cur_->segment_bytes();
  s.huge_page_bytes = w.huge_bytes_;
  return s;
}

TableWriter::TableWriter(TableOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
TableWriter::~TableWriter() = default;

const std::string &TableWriter::room_problem() const { return impl_->room_problem_; }
bool TableWriter::attached() const { return impl_->attached_; }
bool TableWriter::settings_match() const { return impl_->settings_match_; }
uint64_t TableWriter::torn_slots() const { return impl_->torn_; }
const TableOptions &TableWriter::options() const { return impl_->opts_; }
const Generation *TableWriter::current() const { return impl_->cur_.get(); }
const HugePageHost &TableWriter::huge_page_host_state() const { return impl_->host_; }
std::string TableWriter::address() const { return impl_->dir_.address(impl_->opts_.name); }
const SegmentDir &TableWriter::segment_dir() const { return impl_->dir_; }

TableWriter::Room TableWriter::first_generation_room(const TableOptions &opts) {
  const SegmentDir dir = shm::segment_dir(opts.directory);
  const bool huge = dir.kind == DirKind::Hugetlbfs || opts.huge_pages != HugePages::Off;
  const uint64_t need = kControlSize + Generation::plan(dir, opts.capacity, 64 << 10, huge).segment_size;
  const int64_t free = dir.free_bytes();
  Room r;
  r.fits = free < 0 || uint64_t(free) >= need;
  const std::string head = "table " + dir.address(opts.name) + " (capacity " + std::to_string(opts.capacity) + ")";
  if (!r.fits) {
    r.line = head + " does not fit: it " + dir.room_problem(need);
  } else {
    const uint64_t mib = (need + (1 << 20) - 1) >> 20;
    r.line = head + " fits: it needs " + std::to_string(mib) + " MiB, " + dir.listing() + " has " +
             (free < 0 ? std::string("an unknown amount") : std::to_string(uint64_t(free) >> 20) + " MiB") +
             " free (growth needs room for two generations at once)";
  }
  return r;
}

std::string TableWriter::control_path(const TableOptions &opts) {
  return shm::segment_dir(opts.directory).path(opts.name);
}

void TableWriter::destroy(const std::string &name, const std::string &directory) {
  remove_usage_dir(directory.empty() ? name : directory + "/" + name);  // always on /dev/shm
  SegmentDir d;
  try {
    d = shm::segment_dir(directory);
  } catch (const TableError &) {
    return;  // no such directory: no segment to remove
  }
  remove_segment(d, name);
  for (const std::string &n : segment_names(d, name + ".g")) remove_segment(d, n);
}

}  // namespace edgekey::shm
