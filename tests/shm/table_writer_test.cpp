#include "table_fixture.hpp"

#include <edgekey/validator.hpp>
#include <sys/stat.h>
#include <sys/wait.h>

using namespace edgekey;
using namespace edgekey::test;

TEST(TableWriter, GetReturnsWhatWasPut) {
  TableFixture t("get");
  Minted m = mint("key_get", "pk", "test");
  m.rec.origins = {"https://a.example", "https://b.example:8443"};
  shm::Cidr c;
  ASSERT_TRUE(shm::parse_cidr("2001:db8::/48", c));
  m.rec.cidrs = {c};
  m.rec.expires_at = 1893456000;
  m.rec.role = 2;
  m.rec.perms = 0x8000000000000001ULL;
  m.rec.wrong_region = true;
  ASSERT_EQ(t.writer->put(m.rec), shm::WriteError::None);
  auto got = t.writer->get(m.rec.hash);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->key_id, "key_get");
  EXPECT_EQ(got->workspace, "ws_solar");
  EXPECT_EQ(got->origins, m.rec.origins);
  ASSERT_EQ(got->cidrs.size(), 1u);
  EXPECT_EQ(shm::cidr_to_text(got->cidrs[0]), "2001:db8::/48");
  EXPECT_EQ(got->expires_at, 1893456000);
  EXPECT_EQ(got->role, 2);
  EXPECT_EQ(got->perms, 0x8000000000000001ULL);
  EXPECT_EQ(got->type, EK_TYPE_PUBLISHABLE);
  EXPECT_EQ(got->env, EK_ENV_TEST);
  EXPECT_TRUE(got->wrong_region);
  EXPECT_FALSE(got->revoked);
}

TEST(TableWriter, CountsFollowPutRevokeRemove) {
  TableFixture t("counts");
  Minted a = mint("key_a"), b = mint("key_b");
  t.writer->put(a.rec);
  t.writer->put(b.rec);
  t.writer->put(b.rec);  // replace, not a second key
  auto s = t.writer->stats();
  EXPECT_EQ(s.live, 2u);
  t.writer->revoke(a.rec.hash);
  t.writer->remove(b.rec.hash);
  s = t.writer->stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.revoked, 1u);
  EXPECT_EQ(s.tombstones, 1u);
  t.writer->put(b.rec);  // reuses the tombstone
  s = t.writer->stats();
  EXPECT_EQ(s.live, 1u);
  EXPECT_EQ(s.tombstones, 0u);
  t.writer->rebuild();
  s = t.writer->stats();
  EXPECT_EQ(s.live, 1u);
  EXPECT_EQ(s.revoked, 1u);
}

TEST(TableWriter, RejectsBadRecordsWithoutChangingTheTable) {
  TableFixture t("reject");
  Minted m = mint("key_ok");
  ASSERT_EQ(t.writer->put(m.rec), shm::WriteError::None);
  Minted bad = mint("key_badrole");
  bad.rec.role = 7;
  EXPECT_EQ(t.writer->put(bad.rec), shm::WriteError::BadRole);
  bad = mint("key_badtype");
  bad.rec.type = 9;
  EXPECT_EQ(t.writer->put(bad.rec), shm::WriteError::BadEnum);
  bad = mint("key_many");
  bad.rec.origins.assign(257, "https://x.example");
  EXPECT_EQ(t.writer->put(bad.rec), shm::WriteError::AllowListTooLong);
  EXPECT_EQ(t.writer->stats().live, 1u);
  EXPECT_STRNE(shm::write_error_text(shm::WriteError::BadRole), "");
}

TEST(TableWriter, ASecondWriterIsRefusedByName) {
  TableFixture t("second");
  try {
    shm::TableWriter w2(test_options(t.name));
    FAIL() << "a second writer was allowed";
  } catch (const shm::TableError &e) {
    EXPECT_NE(std::string(e.what()).find("already written by pid " + std::to_string(getpid())),
              std::string::npos)
        << e.what();
  }
}

TEST(TableWriter, RestartedWriterReattachesAndReadersKeepWorking) {
  TableFixture t("reattach");
  Minted a = mint("key_a");
  t.writer->load({a.rec});
  t.writer->set_revision(42);
  auto v = Validator::open(t.name.c_str());
  ASSERT_TRUE(v);
  t.writer.reset();  // edgekeyd exits: the table stays
  EXPECT_TRUE(v.validate(a.token).ok());
  t.writer = std::make_unique<shm::TableWriter>(test_options(t.name));
  EXPECT_TRUE(t.writer->attached());
  EXPECT_TRUE(t.writer->settings_match());
  EXPECT_EQ(t.writer->revision(), 42u);
  EXPECT_EQ(t.writer->stats().live, 1u);
  EXPECT_EQ(t.writer->torn_slots(), 0u);
  Minted b = mint("key_b");
  t.writer->put(b.rec);
  EXPECT_TRUE(v.validate(a.token).ok());
  EXPECT_TRUE(v.validate(b.token).ok());
}

TEST(TableWriter, ChangedSettingsAreReportedAndTheOldTableServesUntilLoad) {
  TableFixture t("settings");
  Minted a = mint("key_a");
  t.writer->load({a.rec});
  t.writer.reset();
  shm::TableOptions o = test_options(t.name);
  o.permissions.push_back("billing:manage");
  t.writer = std::make_unique<shm::TableWriter>(o);
  EXPECT_FALSE(t.writer->settings_match());
  auto v = Validator::open(t.name.c_str());
  EXPECT_TRUE(v.validate(a.token).ok());
  EXPECT_EQ(std::string(v.validate(a.token, {.permission = "billing:manage"}).code_name()),
            "insufficient_permission");
  a.rec.perms |= 1u << 4;
  t.writer->load({a.rec});
  EXPECT_TRUE(t.writer->settings_match());
  EXPECT_TRUE(v.validate(a.token, {.permission = "billing:manage"}).ok());
}

TEST(TableWriter, OrphanGenerationsAreRemovedOnAttach) {
  TableFixture t("orphan");
  t.writer->load({mint("key_a").rec});
  uint64_t gen = t.writer->stats().generation;
  t.writer.reset();
  // A writer killed mid-rebuild leaves an unpublished next generation.
  std::string orphan = "/dev/shm/" + t.name + ".g" + std::to_string(gen + 1);
  FILE *f = fopen(orphan.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  t.writer = std::make_unique<shm::TableWriter>(test_options(t.name));
  EXPECT_EQ(access(orphan.c_str(), F_OK), -1);
  EXPECT_EQ(t.writer->stats().generation, gen);
}

TEST(TableWriter, SegmentsHaveTheConfiguredMode) {
  TableFixture t("mode");
  t.writer->load({mint("key_a").rec});
  struct stat st;
  ASSERT_EQ(stat(("/dev/shm/" + t.name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(stat(("/dev/shm/" + t.name + ".g" + std::to_string(t.writer->stats().generation)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(TableWriter, BadOptionsAreClearErrors) {
  auto expect_error = [](shm::TableOptions o, const char *needle) {
    try {
      shm::TableWriter w(o);
      ADD_FAILURE() << "accepted options that should fail with: " << needle;
    } catch (const shm::TableError &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::string name = unique_table_name("badopts");
  shm::TableOptions o = test_options(name);
  o.key_prefix = "EK";
  expect_error(o, "key_prefix");
  o = test_options(name);
  o.name = "a/b";
  expect_error(o, "table.name");
  o = test_options(name);
  o.readers_group = "edgekey-no-such-group-xyz";
  expect_error(o, "readers_group");
  o = test_options(name);
  o.permissions.assign(65, "p");
  expect_error(o, "64 permissions");
  o = test_options(name);
  o.pepper_path = "/nonexistent/pepper";
  expect_error(o, "pepper_file /nonexistent/pepper");
  shm::TableWriter::destroy(name);
}

TEST(TableWriter, ArenaGrowsWithAllowLists) {
  TableFixture t("arena");
  std::vector<Minted> keys;
  for (int i = 0; i < 300; ++i) {
    Minted m = mint("key_" + std::to_string(i), "pk");
    for (int j = 0; j < 20; ++j)
      m.rec.origins.push_back("https://app" + std::to_string(j) + ".tenant" + std::to_string(i) + ".example.com");
    ASSERT_EQ(t.writer->put(m.rec), shm::WriteError::None);
    keys.push_back(m);
  }
  EXPECT_GT(t.writer->stats().arena_used, 300u * 20 * 30);
  auto v = Validator::open(t.name.c_str());
  for (int i = 0; i < 300; ++i) {
    std::string origin = "https://app19.tenant" + std::to_string(i) + ".example.com";
    Result r = v.validate(keys[i].token, {.origin = origin.c_str()});
    ASSERT_TRUE(r.ok()) << i << " " << r.code_name();
  }
}
