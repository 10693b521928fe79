// edgekeyd and edgekeyctl on a keyset directory (upstream.file naming a
// directory of parts): each `keys create|revoke|rotate` rewrites only the
// part it concerns (the others keep their inode and mtime) and is valid
// through the library (ek_validate on the daemon's table); a repeat across
// parts is rejected naming its file and line while the rest serves.
#include "tests/support/validate_code.hpp"
#include "daemon_fixture.hpp"
#include "daemon_test_helpers.hpp"

#include <edgekey/edgekey.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

using namespace edgekey;
using namespace edgekey::test;

namespace {

struct Stamp {
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  bool operator==(const Stamp &) const = default;
};

Stamp stamp_of(const std::string &path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_ino, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}


const std::vector<std::string> kCreate = {"--json", "keys", "create", "--workspace", "ws_test", "--type",
                                          "secret", "--env",  "live",   "--role",      "developer"};

// edgekeyd on the directory d.dir/keys.d holding `parts` (name -> records).
ek_validator *serve_dir(DaemonProcess &d, const std::map<std::string, std::vector<sync::KeyRecord>> &parts) {
  d.keyset = d.dir.file("keys.d");
  EXPECT_EQ(::mkdir(d.keyset.c_str(), 0750), 0);
  for (const auto &[name, records] : parts) DaemonProcess::write_file(d.keyset + "/" + name, sync::emit_keyset_yaml(records));
  d.write_config("");
  d.start_ready();
  ek_validator *v = nullptr;
  EXPECT_EQ(ek_open(d.address().c_str(), &v), 0);
  return v;
}

}  // namespace

TEST(KeysetDirectory, EachEditRewritesOnlyItsPartAndIsValidThroughTheLibrary) {
  DaemonProcess d;
  const MintedKey x = mint_key("key_partx00001"), y = mint_key("key_party00001");
  ek_validator *v = serve_dir(d, {{"a.yaml", {x.record}}, {"b.yaml", {y.record}}});
  ASSERT_NE(v, nullptr);
  const std::string a = d.keyset + "/a.yaml", b = d.keyset + "/b.yaml";
  EXPECT_EQ(validate_code(v, x.token), "ok");
  EXPECT_EQ(validate_code(v, y.token), "ok");

  // create: into the part with the fewest keys (the first such: a.yaml); b.yaml untouched.
  Stamp sa = stamp_of(a), sb = stamp_of(b);
  auto [crc, cout] = ctl(d, kCreate);
  ASSERT_EQ(crc, 0) << cout;
  const auto created = nlohmann::json::parse(cout);
  const std::string t1 = created["token"], id1 = created["id"];
  EXPECT_TRUE(eventually([&] { return validate_code(v, t1) == "ok"; })) << d.log();
  EXPECT_NE(stamp_of(a), sa);
  EXPECT_EQ(stamp_of(b), sb);
  EXPECT_NE(read_text(a).find(id1), std::string::npos);

  // revoke: only the part holding the key.
  sa = stamp_of(a);
  auto [rrc, rout] = ctl(d, {"keys", "revoke", y.record.id});
  ASSERT_EQ(rrc, 0) << rout;
  EXPECT_TRUE(eventually([&] { return validate_code(v, y.token) == "revoked_key"; })) << d.log();
  EXPECT_EQ(stamp_of(a), sa);
  EXPECT_NE(stamp_of(b), sb);

  // rotate: the new key and the old key's expiry, one write to the old key's part.
  sb = stamp_of(b);
  auto [orc, oout] = ctl(d, {"--json", "keys", "rotate", x.record.id, "--grace", "1h"});
  ASSERT_EQ(orc, 0) << oout;
  const auto rot = nlohmann::json::parse(oout);
  const std::string t2 = rot["token"], id2 = rot["id"];
  EXPECT_TRUE(eventually([&] { return validate_code(v, t2) == "ok"; })) << d.log();
  EXPECT_EQ(validate_code(v, x.token), "ok");
  ek_request q{};
  q.authorization = x.token.c_str();
  ek_result r{};
  ASSERT_EQ(ek_validate(v, &q, &r), 0);
  EXPECT_GT(r.expires_at, 0);
  EXPECT_NE(read_text(a).find(id2), std::string::npos);
  EXPECT_EQ(stamp_of(b), sb);

  // list and show read every part.
  auto [lrc, lout] = ctl(d, {"--json", "keys", "list", "--all"});
  ASSERT_EQ(lrc, 0) << lout;
  EXPECT_EQ(nlohmann::json::parse(lout)["keys"].size(), 4u) << lout;
  auto [src, sout] = ctl(d, {"keys", "show", y.record.id});
  ASSERT_EQ(src, 0) << sout;
  EXPECT_NE(sout.find("revoked"), std::string::npos) << sout;

  // A part repeating x's hash under another id: rejected with its file and line, x still serves.
  sync::KeyRecord copy = x.record;
  copy.id = "key_copy000001";
  DaemonProcess::write_file(d.keyset + "/c.yaml", sync::emit_keyset_yaml({copy}));
  const std::string where = d.keyset + "/c.yaml:2: key key_copy000001: field \"hash\": duplicate";
  EXPECT_TRUE(eventually([&] { return d.log().find(where) != std::string::npos; })) << d.log();
  EXPECT_EQ(validate_code(v, x.token), "ok");
  const Ran listed = run_process({EDGEKEYCTL_PATH, "--config", d.config, "keys", "list"});
  EXPECT_EQ(listed.rc, 0);
  EXPECT_NE(listed.err.find(where), std::string::npos) << listed.err;
  ek_close(v);
}

TEST(KeysetDirectory, AnEmptyDirectoryGetsItsFirstPartFromEdgekeyctl) {
  DaemonProcess d;
  ek_validator *v = serve_dir(d, {});
  ASSERT_NE(v, nullptr);
  auto [rc, out] = ctl(d, kCreate);
  ASSERT_EQ(rc, 0) << out;
  const std::string token = nlohmann::json::parse(out)["token"];
  EXPECT_TRUE(eventually([&] { return validate_code(v, token) == "ok"; })) << d.log();
  EXPECT_NE(read_text(d.keyset + "/keys-0001.yaml").find("keys:"), std::string::npos);
  ek_close(v);
}
