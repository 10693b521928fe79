// edgekeyctl keys … against a NATS JetStream origin (real nats-server hub and
// leaf, the config following the leaf as an edge host's does): the same
// commands give the same answers as against a keyset file; the bucket holds
// each record as JSON with origin_written_at and never a token; a revocation
// is a put; concurrent writers all land, through compare-and-set retries.
#include "nats_harness.hpp"
#include "sync/record/record_json.hpp"
#include "sync/upstream/nats/nats_streams.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace edgekey::ctl::test {
namespace {

struct Created {
  std::string id, token;
};

Created create(const Scratch &s, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--json", "keys", "create", "--workspace", "ws_solar", "--type", "secret",
                                   "--env", "live", "--role", "developer"};
  args.insert(args.end(), extra.begin(), extra.end());
  const RunResult r = s.ctl(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  const auto j = nlohmann::json::parse(r.out);
  return {j.at("id"), j.at("token")};
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Replaces what legitimately differs between two runs (ids, tokens, hashes,
// times, the store's name, the NATS-only latency stamp) so that transcripts
// of the same commands against two stores compare equal.
class Normalizer {
 public:
  Normalizer(std::string where, std::string dir) : where_(std::move(where)), dir_(std::move(dir)) {}

  std::string operator()(std::string text) {
    for (size_t at; (at = text.find(where_)) != std::string::npos;) text.replace(at, where_.size(), "<store>");
    for (size_t at; (at = text.find(dir_)) != std::string::npos;) text.replace(at, dir_.size(), "<dir>");
    text = std::regex_replace(text, std::regex(",\"origin_written_at\":[0-9]+"), "");
    text = std::regex_replace(text, std::regex("ek_(sk|pk)_(live|test)_[A-Za-z0-9]+"), "<token>");
    text = std::regex_replace(text, std::regex("(sha256|hmac-sha256):[0-9a-f]+"), "<hash>");
    text = std::regex_replace(text, std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"), "<time>");
    static const std::regex id("key_[A-Za-z0-9]{10}");
    std::string out;
    auto last = text.cbegin();
    for (std::sregex_iterator it(text.begin(), text.end(), id), end; it != end; ++it) {
      out.append(last, (*it)[0].first);
      auto [pos, fresh] = ids_.try_emplace(it->str(), "key#" + std::to_string(ids_.size() + 1));
      out += pos->second;
      last = (*it)[0].second;
    }
    out.append(last, text.cend());
    return out;
  }

 private:
  std::string where_, dir_;
  std::map<std::string, std::string> ids_;
};

// Rows of a `keys list` table (or the keys of its JSON) in a fixed order:
// the stores order keys created in the same second differently.
std::string sorted_listing(const std::string &out, bool json) {
  if (json) {
    auto j = nlohmann::json::parse(out);
    std::vector<std::string> keys;
    for (const auto &k : j.at("keys")) keys.push_back(k.dump());
    std::sort(keys.begin(), keys.end());
    std::string s;
    for (const auto &k : keys) s += k + "\n";
    return s;
  }
  std::istringstream in(out);
  std::string header, line;
  std::getline(in, header);
  std::vector<std::string> rows;
  while (std::getline(in, line)) rows.push_back(line);
  std::sort(rows.begin(), rows.end());
  std::string s = header + "\n";
  for (const auto &r : rows) s += r + "\n";
  return s;
}

// One scripted session of key management; returns its normalized transcript.
std::string session(const Scratch &s, const std::string &where) {
  Normalizer norm(where, s.dir());
  std::string transcript;
  auto run = [&](std::vector<std::string> args) {
    const RunResult r = s.ctl(args);
    const bool listing = std::find(args.begin(), args.end(), "list") != args.end();
    const bool json = std::find(args.begin(), args.end(), "--json") != args.end();
    std::string cmd;
    for (const auto &a : args) cmd += " " + a;
    // Why last use is unknown differs by store: edgekeyd's /v1/usage for the
    // file, the usage bucket (not created here) for NATS.
    auto unknown_use = [](const std::string &t) {
      static const std::regex why("(last use unknown: |last_used_at: +\\? \\().*");
      return std::regex_replace(t, why, "$1<why>");
    };
    // Normalized before sorting, so that ids are numbered in order of appearance.
    const std::string out = unknown_use(norm(r.out));
    transcript += "$" + norm(cmd) + "\n[exit " + std::to_string(r.exit_code) + "]\n" +
                  (listing && r.exit_code == 0 ? sorted_listing(out, json) : out) + "[stderr]\n" +
                  unknown_use(norm(r.err));
    return r;
  };
  auto id_of = [](const RunResult &r) {
    if (r.out.rfind("{", 0) == 0) return nlohmann::json::parse(r.out).at("id").get<std::string>();
    return labelled(r.out, "id");
  };
  const std::string a = id_of(run({"--json", "keys", "create", "--workspace", "ws_solar", "--type", "secret", "--env",
                                   "live", "--role", "developer", "--name", "CI", "--allow-cidr", "10.0.0.0/8"}));
  const std::string b = id_of(run({"keys", "create", "--workspace", "ws_moon", "--type", "publishable", "--env",
                                   "test", "--role", "viewer", "--allow-origin", "https://app.example.com"}));
  const std::string c = id_of(run({"keys", "create", "--workspace", "ws_zeta", "--type", "secret", "--env", "live",
                                   "--role", "developer", "--scope", "billing:manage", "--region", "in-mum",
                                   "--expires", "30d"}));
  run({"keys", "list"});
  run({"keys", "list", "--all", "--json"});
  run({"keys", "show", a});
  run({"keys", "show", b, "--json"});
  run({"keys", "revoke", c});
  run({"keys", "revoke", c});
  run({"--json", "keys", "revoke", c});
  run({"keys", "rotate", a, "--grace", "24h"});
  run({"--json", "keys", "rotate", b, "--grace", "0s", "--expires", "30d"});
  run({"keys", "list", "--all"});
  run({"keys", "list", "--workspace", "ws_solar", "--all", "--json"});
  run({"keys", "show", "key_nope"});
  run({"keys", "revoke", "key_nope"});
  run({"keys", "rotate", "key_nope", "--grace", "1h"});
  run({"keys", "rotate", c, "--grace", "1h"});
  run({"keys", "create", "--workspace", "w", "--type", "secret", "--env", "live", "--role", "admin"});
  run({"keys", "create", "--workspace", "w", "--type", "publishable", "--env", "live", "--role", "viewer"});
  run({"keys", "list", "--all"});
  return transcript;
}

TEST(KeysNats, SameAnswersAsTheKeysetFile) {
  Scratch file;
  NatsScratch n;
  ASSERT_TRUE(n.started) << n.why;
  const std::string from_file = session(file, "keyset file " + file.keyset());
  const std::string from_nats = session(*n.scratch, n.where());
  EXPECT_EQ(from_nats, from_file);
  // The session itself did what it says (not two equally broken runs).
  EXPECT_NE(from_file.find("[exit 3]"), std::string::npos);
  EXPECT_NE(from_file.find("revoked key#3"), std::string::npos) << from_file;
  EXPECT_NE(from_nats.find("no key with id \"key_nope\" in the <store>"), std::string::npos) << from_nats;
  EXPECT_EQ(Bucket(n.topo.origin_options()).records().size(), 5u);
}

TEST(KeysNats, BucketHoldsTheRecordJsonStampedAndNeverTheToken) {
  NatsScratch n;
  ASSERT_TRUE(n.started) << n.why;
  const int64_t before = now_ms();
  const Created k = create(*n.scratch, {"--name", "CI pipeline", "--allow-cidr", "10.0.0.0/8"});
  const int64_t after = now_ms();
  ASSERT_FALSE(k.id.empty());

  Bucket bucket(n.topo.origin_options());
  const auto e = bucket.get(k.id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->op, kvOp_Put);
  auto r = sync::decode_record_json(e->value);
  ASSERT_TRUE(r.ok()) << r.error << "\n" << e->value;
  EXPECT_EQ(r.value->record().id, k.id);
  EXPECT_EQ(r.value->record().hash, "sha256:" + sha256_hex(k.token));
  EXPECT_EQ(r.value->record().name, "CI pipeline");
  EXPECT_EQ(r.value->record().allowed_cidrs, std::vector<std::string>{"10.0.0.0/8"});
  ASSERT_TRUE(r.value->record().origin_written_at);
  EXPECT_GE(*r.value->record().origin_written_at, before);
  EXPECT_LE(*r.value->record().origin_written_at, after);
  const std::string body = k.token.substr(k.token.rfind('_') + 1);
  for (const auto &entry : bucket.entries()) {
    EXPECT_EQ(entry.value.find(k.token), std::string::npos);
    EXPECT_EQ(entry.value.find(body), std::string::npos);
  }
  EXPECT_EQ(n.scratch->all_files().find(body), std::string::npos);  // nor anywhere on disk here
}

TEST(KeysNats, RevokeIsAPutOfTheRevokedRecordAndReachesTheRegion) {
  NatsScratch n;
  ASSERT_TRUE(n.started) << n.why;
  const Created k = create(*n.scratch), other = create(*n.scratch);
  Bucket bucket(n.topo.origin_options());
  const uint64_t created_rev = bucket.get(k.id)->revision;
  const int64_t before = std::time(nullptr);
  const RunResult r = n.scratch->ctl({"keys", "revoke", k.id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("revoked " + k.id, 0), 0u) << r.out;

  const auto e = bucket.get(k.id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->op, kvOp_Put);
  EXPECT_GT(e->revision, created_rev);
  auto rec = sync::decode_record_json(e->value);
  ASSERT_TRUE(rec.ok()) << rec.error;
  EXPECT_EQ(rec.value->record().status, sync::KeyStatus::Revoked);
  ASSERT_TRUE(rec.value->record().revoked_at);
  EXPECT_GE(*rec.value->record().revoked_at, before);
  EXPECT_EQ(rec.value->record().hash, "sha256:" + sha256_hex(k.token));  // still there: edges match it to refuse
  for (const auto &entry : bucket.entries()) EXPECT_EQ(entry.op, kvOp_Put) << entry.key << " was removed";
  EXPECT_EQ(bucket.get(other.id)->op, kvOp_Put);

  // Revoking again writes nothing.
  const uint64_t seq = bucket.last_sequence();
  const RunResult again = n.scratch->ctl({"keys", "revoke", k.id});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already revoked"), std::string::npos) << again.out;
  EXPECT_EQ(bucket.last_sequence(), seq);

  // The region's mirror carries the revocation under the origin's sequence.
  const auto opts = n.topo.options(n.topo.region(0));
  sync::NatsClient region(opts, "ctl-test-region");
  EXPECT_TRUE(eventually([&] { return sync::region_stream_state(region, opts).last_seq == e->revision; }));
}

TEST(KeysNats, ConcurrentCreatesAllLand) {
  NatsScratch n;
  ASSERT_TRUE(n.started) << n.why;
  constexpr int kWriters = 12;
  std::vector<Proc> procs;
  for (int i = 0; i < kWriters; ++i)
    procs.push_back(n.scratch->start({"--json", "keys", "create", "--workspace", "ws_" + std::to_string(i), "--type",
                                      "secret", "--env", "live", "--role", "viewer"}));
  std::map<std::string, std::string> tokens = finish_all_printing_keys(procs);  // id -> token
  ASSERT_EQ(tokens.size(), size_t(kWriters));
  const auto recs = Bucket(n.topo.origin_options()).records();
  ASSERT_EQ(recs.size(), size_t(kWriters));
  for (const auto &r : recs) {
    ASSERT_TRUE(tokens.count(r.id)) << r.id;
    EXPECT_EQ(r.hash, "sha256:" + sha256_hex(tokens[r.id]));
  }
}

TEST(KeysNats, ConcurrentRevokesWriteOnce) {
  NatsScratch n;
  ASSERT_TRUE(n.started) << n.why;
  const Created k = create(*n.scratch);
  Bucket bucket(n.topo.origin_options());
  const uint64_t rev = bucket.get(k.id)->revision;
  std::vector<Proc> procs;
  for (int i = 0; i < 10; ++i) procs.push_back(n.scratch->start({"keys", "revoke", k.id}));
  int revoked = 0, already = 0;
  for (auto &p : procs) {
    const RunResult r = finish(p);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    revoked += r.out.rfind("revoked " + k.id, 0) == 0;
    already += r.out.find("was already revoked") != std::string::npos;
  }
  EXPECT_EQ(revoked, 1);
  EXPECT_EQ(already, 9);
  EXPECT_EQ(bucket.get(k.id)->revision, rev + 1);  // one write, the others saw it
  EXPECT_EQ(bucket.last_sequence(), rev + 1);
}

TEST(KeysNats, ConcurrentRotatesAllLandWithoutStrays) {
  NatsScratch n;
  ASSERT_TRUE(n.started) << n.why;
  const Created old = create(*n.scratch);
  constexpr int kWriters = 6;
  std::vector<Proc> procs;
  for (int i = 0; i < kWriters; ++i)
    procs.push_back(n.scratch->start({"--json", "keys", "rotate", old.id, "--grace", std::to_string(i + 1) + "h"}));
  std::map<std::string, std::string> fresh = finish_all_printing_keys(procs);
  ASSERT_EQ(fresh.size(), size_t(kWriters));
  const auto recs = Bucket(n.topo.origin_options()).records();
  EXPECT_EQ(recs.size(), size_t(kWriters + 1));  // every conflicting attempt's new key was undone
  std::set<std::string> hashes;
  for (const auto &r : recs) {
    hashes.insert(r.hash);
    if (r.id == old.id) {
      ASSERT_TRUE(r.expires_at);
      EXPECT_LE(*r.expires_at, std::time(nullptr) + 3600 + 5);  // the shortest grace wins
      continue;
    }
    ASSERT_TRUE(fresh.count(r.id)) << "stray key " << r.id;
    EXPECT_EQ(r.rotated_from, old.id);
    EXPECT_EQ(r.hash, "sha256:" + sha256_hex(fresh[r.id]));
  }
  EXPECT_EQ(hashes.size(), recs.size());
}

}  // namespace
}  // namespace edgekey::ctl::test
