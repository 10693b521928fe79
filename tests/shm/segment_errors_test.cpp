// Every offset is bounds-checked: a reader given a foreign, truncated or corrupted segment gets
// a clear error or a 503 answer, never a crash (run under ASan+UBSan too).
#include "table_fixture.hpp"

#include "shm/src/generation.hpp"
#include "shm/src/layout.hpp"

#include <edgekey/validator.hpp>
#include <fcntl.h>
#include <sys/mman.h>

#include <random>

using namespace edgekey;
using namespace edgekey::test;

namespace {

// Writes `bytes` as /dev/shm/<name>, replacing any segment of that name.
void write_segment(const std::string &name, const std::vector<uint8_t> &bytes) {
  std::string path = "/dev/shm/" + name;
  FILE *f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  }
  fclose(f);
}

std::vector<uint8_t> read_segment(const std::string &name) {
  std::vector<uint8_t> b;
  FILE *f = fopen(("/dev/shm/" + name).c_str(), "rb");
  if (!f) return b;
  int c;
  while ((c = fgetc(f)) != EOF) b.push_back(uint8_t(c));
  fclose(f);
  return b;
}

struct Segments : ::testing::Test {
  std::string name = unique_table_name("seg");
  void TearDown() override { shm::TableWriter::destroy(name); }

  std::vector<uint8_t> control(uint64_t magic, uint32_t version, uint64_t gen) {
    std::vector<uint8_t> b(4096, 0);
    auto *c = reinterpret_cast<shm::ControlHeader *>(b.data());
    c->magic.store(magic);
    c->layout_version = version;
    c->header_size = sizeof(shm::ControlHeader);
    c->generation.store(gen);
    return b;
  }
  int open_err() {
    ek_validator *v = nullptr;
    int rc = ek_open(name.c_str(), &v);
    ek_close(v);
    return rc;
  }
};

}  // namespace

TEST_F(Segments, ForeignControlSegment) {
  write_segment(name, control(0x1122334455667788ULL, shm::kLayoutVersion, 0));
  EXPECT_EQ(open_err(), EK_ERR_BAD_MAGIC);
}

TEST_F(Segments, UnknownLayoutVersion) {
  write_segment(name, control(shm::kControlMagic, 99, 0));
  EXPECT_EQ(open_err(), EK_ERR_VERSION);
}

TEST_F(Segments, EmptyOrTinyControlSegment) {
  write_segment(name, {});
  EXPECT_EQ(open_err(), EK_ERR_CORRUPT);
  write_segment(name, std::vector<uint8_t>(16, 0xff));
  EXPECT_EQ(open_err(), EK_ERR_CORRUPT);
  write_segment(name, std::vector<uint8_t>(4096, 0));  // being created: magic not yet stored
  EXPECT_EQ(open_err(), EK_ERR_NO_TABLE);
}

TEST_F(Segments, DataSegmentDefects) {
  // Take a real table's data segment and break one thing at a time.
  std::vector<uint8_t> good;
  uint64_t gen;
  {
    shm::TableWriter w(test_options(name));
    w.load({mint("key_a").rec});
    gen = w.stats().generation;
    good = read_segment(name + ".g" + std::to_string(gen));
  }
  ASSERT_GT(good.size(), sizeof(shm::DataHeader));
  const std::string data = name + ".g" + std::to_string(gen);
  ASSERT_EQ(open_err(), 0);

  auto with = [&](auto mutate) {
    std::vector<uint8_t> b = good;
    mutate(b, *reinterpret_cast<shm::DataHeader *>(b.data()));
    write_segment(data, b);
    return open_err();
  };
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { h.magic.store(42); }), EK_ERR_BAD_MAGIC);
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { h.layout_version = 7; }), EK_ERR_VERSION);
  EXPECT_EQ(with([](auto &b, shm::DataHeader &) { b.resize(b.size() / 2); }), EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &b, shm::DataHeader &) { b.resize(100); }), EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { h.capacity = ~0ULL / 2; }), EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { h.arena_offset = 8; }), EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { h.arena_size = ~0ULL; }), EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { h.slots_offset = 3; }), EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { h.n_roles = 200; }), EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { memset(h.key_prefix, 'x', sizeof h.key_prefix); }),
            EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &, shm::DataHeader &h) { h.generation = 999; }), EK_ERR_CORRUPT);
  EXPECT_EQ(with([](auto &, shm::DataHeader &) {}), 0);  // and the untouched copy opens
}

TEST(SegmentsCorrupt, ScribbledSlotsAndArenaNeverCrashAReader) {
  TableFixture t("scribble");
  std::vector<Minted> keys;
  for (int i = 0; i < 40; ++i) {
    Minted m = mint("key_" + std::to_string(i), i % 2 ? "pk" : "sk");
    if (i % 2) m.rec.origins = {"https://a.example"};
    if (i % 3 == 0) {
      shm::Cidr c;
      shm::parse_cidr("10.0.0.0/8", c);
      m.rec.cidrs = {c};
    }
    if (i % 5 == 0) m.rec.key_id = "key_" + std::string(40, 'L') + std::to_string(i);
    keys.push_back(m);
  }
  std::vector<shm::TableRecord> recs;
  for (auto &k : keys) recs.push_back(k.rec);
  t.writer->load(recs);
  auto v = Validator::open(t.name.c_str());
  ASSERT_TRUE(v);

  // Scribble over the live data segment through a second read-write mapping.
  const shm::Generation *g = t.writer->current();
  auto *slots = reinterpret_cast<uint8_t *>(const_cast<shm::Slot *>(g->view().slots));
  auto *arena = const_cast<uint8_t *>(g->arena());
  std::mt19937_64 rng(7);
  int answered = 0;
  for (int round = 0; round < 200; ++round) {
    for (int k = 0; k < 16; ++k) {
      // Keep the slot's sequence even so readers look at the garbage.
      uint64_t slot = rng() % g->capacity();
      size_t off = 8 + rng() % (shm::kSlotSize - 8);
      slots[slot * shm::kSlotSize + off] = uint8_t(rng());
      arena[rng() % g->arena_used()] = uint8_t(rng());
    }
    for (auto &k : keys) {
      Result r = v.validate(k.token, {.client_ip = "10.1.2.3", .origin = "https://a.example"});
      ASSERT_TRUE(r.status == 200 || r.status == 401 || r.status == 403 || r.status == 503) << r.status;
      ASSERT_LT(strnlen(r.key_id, sizeof r.key_id), sizeof r.key_id);
      ASSERT_LT(strnlen(r.workspace, sizeof r.workspace), sizeof r.workspace);
      ++answered;
    }
  }
  EXPECT_EQ(answered, 200 * 40);
}

TEST(SegmentsCorrupt, ArenaReferencesOutOfBoundsAnswer503) {
  TableFixture t("oob");
  Minted m = mint("key_pk", "pk");
  m.rec.origins = {"https://a.example"};
  t.writer->load({m.rec});
  auto v = Validator::open(t.name.c_str());
  ASSERT_TRUE(v.validate(m.token, {.origin = "https://a.example"}).ok());
  const shm::Generation *g = t.writer->current();
  auto *slots = const_cast<shm::Slot *>(g->view().slots);
  for (uint64_t i = 0; i < g->capacity(); ++i) {
    shm::SlotImage img = g->read(i);
    if (img.state != uint8_t(shm::SlotState::Live)) continue;
    img.arena_off = 0xfffffff0u;  // past the arena's end
    const_cast<shm::Generation *>(g)->write(i, img);
  }
  (void)slots;
  Result r = v.validate(m.token, {.origin = "https://a.example"});
  EXPECT_EQ(r.status, 503);
  EXPECT_STREQ(r.code_name(), "keyset_unavailable");
}
