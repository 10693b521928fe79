// A keyset file of 1,000,000 keys, generated here: edgekeyd's file upstream
// (FileSource into an Applier and a real table) loads it, then one create,
// one revoke and one rotate, each spliced into the file by the KeysetEditor
// (what `edgekeyctl keys …` runs) and re-read, are checked through the
// public C API (ek_validate). Times and memory are bench/keyset's business;
// this checks that the paths hold at that size.
#include "tests/support/validate_code.hpp"
#include "sync/record/keyset_edit.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync/upstream/applier.hpp"
#include "sync/upstream/file_source.hpp"
#include "sync_test_util.hpp"

#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"

#include <edgekey/edgekey.h>
#include <gtest/gtest.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <random>

namespace edgekey::sync {
namespace {

constexpr size_t kKeys = 1000000;

using Token = testing::MintedKey;
using testing::mint_key;

// kKeys records in edgekeyctl's layout; keys 0..2 get the hashes of `known`.
void generate(const std::string &path, const std::vector<Token> &known) {
  std::mt19937_64 rng(7);
  FILE *f = fopen(path.c_str(), "w");
  ASSERT_TRUE(f);
  fputs("keys:\n", f);
  for (size_t i = 0; i < kKeys; ++i) {
    char hash[80];
    if (i < known.size())
      snprintf(hash, sizeof hash, "%s", known[i].hash.c_str());
    else
      snprintf(hash, sizeof hash, "sha256:%016llx%016llx%016llx%016llx", (unsigned long long)rng(),
               (unsigned long long)rng(), (unsigned long long)rng(), (unsigned long long)rng());
    fprintf(f,
            "  - id: key_%010zu\n    hash: %s\n    workspace: ws_%zu\n    type: secret\n    env: live\n"
            "    role: developer\n    scopes: []\n    regions: []\n    allowed_origins: []\n    allowed_cidrs: []\n"
            "    created_at: 2026-11-22T10:00:00Z\n    expires_at: null\n    status: active\n",
            i, hash, i % 1000);
  }
  ASSERT_EQ(fclose(f), 0);
}

using test::validate_code;

// Splices `puts` into the file as edgekeyctl does (FileKeyStore::update_by_id).
void edit(const std::string &path, const std::vector<KeyRecord> &puts) {
  MappedFile f(path);
  ASSERT_TRUE(f.error().empty()) << f.error();
  KeysetEditor e;
  ASSERT_TRUE(e.read(f.text(), path));
  ASSERT_TRUE(e.rejected().empty());
  e.write(path, puts);
}

TEST(KeysetMillion, LoadCreateRevokeRotateThroughTheLibrary) {
  if (std::strlen(EDGEKEY_SANITIZE_BUILD) != 0)
    GTEST_SKIP() << "1M records take minutes under the " EDGEKEY_SANITIZE_BUILD
                    " sanitizer; the normal build runs this test";
  testing::TempDir dir;
  const std::string path = dir.file("keys.yaml");
  const std::vector<Token> known = {mint_key(), mint_key(), mint_key()};
  generate(path, known);

  PolicySpec spec;
  spec.permissions = {"agents:read", "chat:write"};
  spec.roles = {{"developer", {"*"}}};
  spec.region = "in-mum";
  const Policy policy = testing::compiled(spec);
  shm::TableOptions opts;
  opts.name = "ek-million-test-" + std::to_string(getpid());
  opts.capacity = kKeys + kKeys / 4;
  policy.apply_to(opts);
  shm::TableWriter::destroy(opts.name);
  std::vector<std::string> rejects, warnings;
  {
    shm::TableWriter writer(opts);
    Applier applier(writer, policy, [&](const std::string &m) { rejects.push_back(m); });
    uv_loop_t loop;
    uv_loop_init(&loop);
    FileSource source(&loop, path, applier, [&](Severity l, const std::string &m) {
      if (l != Severity::Info) warnings.push_back(m);
    });
    ASSERT_TRUE(source.start());
    EXPECT_EQ(applier.size(), kKeys);
    ek_validator *v = nullptr;
    ASSERT_EQ(ek_open(opts.name.c_str(), &v), 0);
    EXPECT_EQ(validate_code(v, known[0].token), "ok");

    // create
    const Token fresh = mint_key();
    KeyRecord created = testing::minimal_record("key_created");
    created.hash = fresh.hash;
    EXPECT_EQ(validate_code(v, fresh.token), "unknown_key");
    edit(path, {created});
    ASSERT_TRUE(source.reload());
    EXPECT_EQ(validate_code(v, fresh.token), "ok");

    // revoke key 1
    KeyRecord revoked;
    {
      MappedFile f(path);
      KeysetEditor e;
      ASSERT_TRUE(e.read(f.text(), path));
      ASSERT_EQ(e.size(), kKeys + 1);
      std::optional<KeyRecord> r = e.find("key_0000000001");
      ASSERT_TRUE(r);
      revoked = *r;
    }
    revoked.status = KeyStatus::Revoked;
    revoked.revoked_at = testing::kCreated;
    edit(path, {revoked});
    ASSERT_TRUE(source.reload());
    EXPECT_EQ(validate_code(v, known[1].token), "revoked_key");
    EXPECT_EQ(validate_code(v, known[0].token), "ok");

    // rotate key 2: the new key and, until its expiry, the old one
    const Token rotated = mint_key();
    KeyRecord old = testing::minimal_record("key_0000000002");
    old.hash = known[2].hash;
    old.workspace = "ws_2";
    old.created_at = testing::kCreated;
    old.expires_at = int64_t(time(nullptr)) + 3600;
    KeyRecord next = testing::minimal_record("key_rotated");
    next.hash = rotated.hash;
    next.workspace = "ws_2";
    next.rotated_from = old.id;
    edit(path, {old, next});
    ASSERT_TRUE(source.reload());
    EXPECT_EQ(validate_code(v, rotated.token), "ok");
    EXPECT_EQ(validate_code(v, known[2].token), "ok");
    ek_result r{};
    ek_request q{};
    q.authorization = known[2].token.c_str();
    ASSERT_EQ(ek_validate(v, &q, &r), 0);
    EXPECT_EQ(r.expires_at, *old.expires_at);

    EXPECT_EQ(applier.size(), kKeys + 2);
    EXPECT_TRUE(rejects.empty()) << rejects.front();
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    ek_close(v);
    source.close();
    uv_run(&loop, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
  }
  shm::TableWriter::destroy(opts.name);
}

}  // namespace
}  // namespace edgekey::sync
