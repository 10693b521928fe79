// edgekeyctl_core in-process: key ids, expiry parsing, record merging, the
// Unix-socket HTTP client, output helpers.
#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/key_repository.hpp"
#include "daemon/ctl/new_key.hpp"
#include "daemon/ctl/output.hpp"
#include "daemon/ctl/socket_client.hpp"
#include "fake_daemon.hpp"
#include "harness.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

namespace edgekey::ctl::test {
namespace {

template <class F>
ExitCode code_of(F &&f) {
  try {
    f();
  } catch (const CtlError &e) {
    return e.code;
  }
  return kExitOk;
}

TEST(KeyId, Base62OfTenCharactersAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = new_key_id();
    ASSERT_EQ(id.size(), 14u);
    ASSERT_EQ(id.rfind("key_", 0), 0u);
    for (char c : id.substr(4)) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(Expiry, DurationsDatesAndTimes) {
  const int64_t now = 1'800'000'000;
  EXPECT_EQ(parse_expiry("24h", now, "--expires"), now + 86400);
  EXPECT_EQ(parse_expiry("1500ms", now, "--expires"), now + 2);  // rounded up
  EXPECT_EQ(sync::format_time(parse_expiry("2031-02-03", now, "--expires")), "2031-02-03T00:00:00Z");
  EXPECT_EQ(sync::format_time(parse_expiry("2031-02-03T01:02:03Z", now, "--expires")), "2031-02-03T01:02:03Z");
  EXPECT_EQ(code_of([&] { parse_expiry("0s", now, "--expires"); }), kExitUsage);
  EXPECT_EQ(code_of([&] { parse_expiry("2020-01-01", now, "--expires"); }), kExitUsage);
  EXPECT_EQ(code_of([&] { parse_expiry("tomorrow", now, "--expires"); }), kExitUsage);
  EXPECT_EQ(code_of([&] { parse_expiry("100000000d", now, "--expires"); }), kExitUsage);
  EXPECT_EQ(parse_seconds("0s", "--grace", 0), 0);
  EXPECT_EQ(code_of([] { parse_seconds("-1s", "--grace", 0); }), kExitUsage);
}

TEST(MergeRecords, ReplacesByIdAppendsNewAndRefusesDuplicateHashes) {
  sync::KeyRecord a;
  a.id = "key_a";
  a.hash = "sha256:" + std::string(64, 'a');
  sync::KeyRecord b = a;
  b.id = "key_b";
  b.hash = "sha256:" + std::string(64, 'b');
  std::vector<sync::KeyRecord> recs{a};
  sync::KeyRecord a2 = a;
  a2.name = "renamed";
  merge_records(recs, {a2, b});
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].name, "renamed");
  EXPECT_EQ(recs[1].id, "key_b");
  sync::KeyRecord c = a;
  c.id = "key_c";
  EXPECT_EQ(code_of([&] { merge_records(recs, {c}); }), kExitUsage);
}

TEST(Output, ShortHashAndPrintable) {
  EXPECT_EQ(short_hash("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            "sha256:9f86d081\u2026");
  EXPECT_EQ(short_hash("hmac-sha256:00112233445566"), "hmac-sha256:00112233\u2026");
  EXPECT_EQ(printable("a\x1b[31mb\n"), "a?[31mb?");
}

std::string printed(const sync::KeyRecord &r, int64_t now) {
  std::ostringstream out;
  print_record(out, r, now);
  return out.str();
}

// `keys show`: every field but origin_written_at, in this order, byte for byte.
TEST(Output, PrintRecordShowsEveryFieldAligned) {
  sync::KeyRecord r;
  r.id = "key_2hT9cQ4mZ8";
  r.hash = "hmac-sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  r.workspace = "ws_solar";
  r.name = "CI\x01 nightly";
  r.type = sync::KeyType::Publishable;
  r.env = sync::KeyEnv::Test;
  r.role = "developer";
  r.scopes = {"agents:deploy", "chat:write"};
  r.regions = {"in-mum", "eu-fra"};
  r.allowed_origins = {"https://app.example.com", "http://[::1]:8080"};
  r.allowed_cidrs = {"203.0.113.0/24", "::1"};
  r.created_at = 1795341600;
  r.expires_at = 1795345200;
  r.revoked_at = 1795342600;
  r.rotated_from = "key_old";
  r.origin_written_at = 1795341600123;
  EXPECT_EQ(printed(r, 1795345200),
            "id:              key_2hT9cQ4mZ8\n"
            "workspace:       ws_solar\n"
            "name:            CI? nightly\n"
            "type:            publishable\n"
            "env:             test\n"
            "role:            developer\n"
            "scopes:          agents:deploy, chat:write\n"
            "regions:         in-mum, eu-fra\n"
            "allowed_origins: https://app.example.com, http://[::1]:8080\n"
            "allowed_cidrs:   203.0.113.0/24, ::1\n"
            "hash:            hmac-sha256:01234567\u2026\n"
            "created_at:      2026-11-22T10:00:00Z\n"
            "expires_at:      2026-11-22T11:00:00Z\n"
            "status:          expired (expires_at has passed)\n"
            "revoked_at:      2026-11-22T10:16:40Z\n"
            "rotated_from:    key_old\n");

  sync::KeyRecord m;
  m.id = "key_min";
  m.hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  m.workspace = "ws_solar";
  m.role = "viewer";
  EXPECT_EQ(printed(m, 0),
            "id:              key_min\n"
            "workspace:       ws_solar\n"
            "name:            -\n"
            "type:            secret\n"
            "env:             live\n"
            "role:            viewer\n"
            "scopes:          -\n"
            "regions:         (every region)\n"
            "allowed_origins: (any)\n"
            "allowed_cidrs:   (any)\n"
            "hash:            sha256:9f86d081\u2026\n"
            "created_at:      -\n"
            "expires_at:      never\n"
            "status:          active\n"
            "revoked_at:      -\n"
            "rotated_from:    -\n");

  m.type = sync::KeyType::Publishable;  // without origins (not a valid record, still shown)
  m.status = sync::KeyStatus::Revoked;
  const std::string pk = printed(m, 0);
  EXPECT_NE(pk.find("\nallowed_origins: (none)\n"), std::string::npos) << pk;
  EXPECT_NE(pk.find("\nstatus:          revoked\n"), std::string::npos) << pk;
}

TEST(SocketClient, ReadsStatusHeadersAndBody) {
  Scratch s;
  FakeDaemon d(s.socket(),
               "HTTP/1.1 403 Forbidden\r\nX-Edgekey-Code: origin_not_allowed\r\nContent-Length: 2\r\n\r\n{}",
               FakeDaemon::Mode::Trickle);
  const HttpResponse r = unix_http_get(s.socket(), "/v1/validate", {{"Origin", "https://x.example"}},
                                       std::chrono::seconds(5));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("x-edgekey-code").value_or(""), "origin_not_allowed");
  EXPECT_FALSE(r.header("x-edgekey-key-id"));
  EXPECT_EQ(r.body, "{}");
  const std::string head = d.requests().at(0);
  EXPECT_NE(head.find("\r\nOrigin: https://x.example\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nHost: localhost\r\n"), std::string::npos) << head;
}

TEST(SocketClient, ErrorsCarryExitCodesAndThePath) {
  Scratch s;
  try {
    unix_http_get(s.socket(), "/v1/status", {}, std::chrono::seconds(1));
    FAIL() << "no exception";
  } catch (const CtlError &e) {
    EXPECT_EQ(e.code, kExitUnavailable);
    EXPECT_NE(std::string(e.what()).find(s.socket()), std::string::npos) << e.what();
  }
  EXPECT_EQ(code_of([&] { unix_http_get(std::string(200, 'x'), "/", {}, std::chrono::seconds(1)); }), kExitUsage);
  EXPECT_EQ(code_of([&] { unix_http_get(s.socket(), "/", {{"A", "x\ny"}}, std::chrono::seconds(1)); }), kExitUsage);
  {
    const std::string huge = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(2 * kMaxResponseBytes) +
                             "\r\n\r\n" + std::string(kMaxResponseBytes + 1, 'x');
    FakeDaemon d(s.socket(), huge);
    EXPECT_EQ(code_of([&] { unix_http_get(s.socket(), "/", {}, std::chrono::seconds(5)); }), kExitUnavailable);
  }
}

}  // namespace
}  // namespace edgekey::ctl::test
