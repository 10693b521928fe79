// edgekeyd following its region over TLS (issue #4: "TLS (CA, client cert and
// key through OpenSSL as libnats supports)", "bad or unreachable settings
// give a clear error naming the setting"). The region's nats-server requires
// TLS on its client port (and in one case verifies client certificates); the
// hub and the leafnode link stay plain. The certificates are made at run time
// with the openssl command line in the topology's scratch directory (removed
// with it): a throwaway CA, a server certificate for IP 127.0.0.1 and a client
// certificate it signed, and a second CA that signed nothing of the server's.
#include "daemon_fixture.hpp"
#include "nats_origin.hpp"
#include "nats_servers.hpp"

#include <edgekey/validator.hpp>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

namespace edgekey::test {
namespace {

// Runs `argv` to completion (forked, waited for by pid), its output in `log`;
// false with that output in *why when it fails.
bool run(const std::vector<std::string> &argv, const std::string &log, std::string *why) {
  std::vector<char *> args;
  for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  *why = argv[0] + " " + argv[1] + " failed (status " + std::to_string(status) + "): " + read_text(log);
  return false;
}

// A throwaway PKI in `dir` (PEM files; EC P-256 keys, valid one day).
struct TestPki {
  std::string dir, ca, ca_key, server, server_key, client, client_key, other_ca, other_ca_key;

  bool make(const std::string &d, std::string *why) {
    dir = d;
    ca = d + "/ca.pem", ca_key = d + "/ca.key";
    other_ca = d + "/other-ca.pem", other_ca_key = d + "/other-ca.key";
    server = d + "/server.pem", server_key = d + "/server.key";
    client = d + "/client.pem", client_key = d + "/client.key";
    DaemonProcess::write_file(d + "/server.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    DaemonProcess::write_file(d + "/client.ext", "extendedKeyUsage=clientAuth\n");
    return make_ca(ca, ca_key, "edgekey-test-ca", why) && make_ca(other_ca, other_ca_key, "edgekey-other-ca", why) &&
           make_cert(server, server_key, "edgekey-test-server", d + "/server.ext", "2", why) &&
           make_cert(client, client_key, "edgekey-test-client", d + "/client.ext", "3", why);
  }

 private:
  bool openssl(std::vector<std::string> args, std::string *why) {
    args.insert(args.begin(), "openssl");
    return run(args, dir + "/openssl.log", why);
  }
  bool make_ca(const std::string &pem, const std::string &key, const std::string &cn, std::string *why) {
    return openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", pem, "-days", "1", "-subj", "/CN=" + cn, "-addext",
                    "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"},
                   why);
  }
  bool make_cert(const std::string &pem, const std::string &key, const std::string &cn, const std::string &ext,
                 const std::string &serial, std::string *why) {
    const std::string csr = pem + ".csr";
    return openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                    key, "-out", csr, "-subj", "/CN=" + cn},
                   why) &&
           openssl({"x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", serial, "-days", "1",
                    "-extfile", ext, "-out", pem},
                   why);
  }
};

std::string code_of(DaemonProcess &d, const std::string &token) {
  return d.validate(token).header("X-Edgekey-Code").value_or("(no answer)");
}

nlohmann::json nats_status(DaemonProcess &d) {
  auto j = nlohmann::json::parse(d.get("/v1/status").body, nullptr, false);
  return j.is_object() ? j["nats"] : nlohmann::json();
}

// An origin hub and one region ("in") whose client port requires TLS.
struct TlsRegion {
  NatsTopology topo;
  TestPki pki;
  std::unique_ptr<Origin> origin;

  bool start(bool verify_clients) {
    std::string why;
    if (!pki.make(topo.dir().path(), &why)) {
      ADD_FAILURE() << why;
      return false;
    }
    topo.region(0).require_tls({pki.server, pki.server_key, pki.ca, verify_clients});
    // The fixture's own clients (the mirror's set-up) present the client
    // certificate; the daemon's settings are each test's.
    topo.client_tls = {pki.ca, pki.client, pki.client_key};
    origin = start_with_origin(topo);  // the hub is plain
    return origin != nullptr;
  }
  std::unique_ptr<DaemonProcess> daemon(const sync::NatsTlsOptions &tls) {
    return std::make_unique<DaemonProcess>("", topo.upstream_yaml(topo.region(0), tls));
  }
};

// The daemon takes the snapshot over TLS and applies a live revocation:
// a key made at the origin validates (socket and library), is revoked, and
// is then refused.
void snapshot_and_live_revocation(TlsRegion &r, const sync::NatsTlsOptions &tls) {
  ASSERT_EQ(r.topo.region(0).url().rfind("tls://127.0.0.1:", 0), 0u);
  MintedKey before = mint_key("key_before"), live = mint_key("key_live");
  r.origin->put(before.record);
  auto d = r.daemon(tls);
  d->start_ready();
  EXPECT_EQ(code_of(*d, before.token), "ok") << d->log();
  auto st = nats_status(*d);
  EXPECT_EQ(st["connected"], true) << st.dump();
  EXPECT_EQ(st["snapshots_loaded"], 1) << st.dump();
  EXPECT_NE(d->log().find("connected to NATS"), std::string::npos) << d->log();

  r.origin->put(live.record);
  auto v = Validator::open(d->table.c_str());
  ASSERT_TRUE(v) << Validator::error_text(v.error());
  EXPECT_TRUE(eventually([&] { return v.validate("Bearer " + live.token).ok(); }, 10000ms)) << d->log();
  EXPECT_EQ(code_of(*d, live.token), "ok");

  r.origin->revoke(live.record);
  EXPECT_TRUE(eventually([&] { return v.validate("Bearer " + live.token).code == EK_CODE_REVOKED_KEY; }, 10000ms))
      << d->log();
  EXPECT_EQ(code_of(*d, live.token), "revoked_key");
  EXPECT_EQ(code_of(*d, before.token), "ok");
  st = nats_status(*d);
  EXPECT_EQ(st["messages_applied"], 3) << st.dump();  // the snapshot's one, then the two live changes
  EXPECT_EQ(st["propagation_ms"]["count"], 2) << st.dump();
}

TEST(NatsTls, ServerTlsSnapshotAndLiveRevocation) {
  TlsRegion r;
  ASSERT_TRUE(r.start(/*verify_clients=*/false));
  snapshot_and_live_revocation(r, {r.pki.ca, "", ""});
}

TEST(NatsTls, ClientCertificateSnapshotAndLiveRevocation) {
  TlsRegion r;
  ASSERT_TRUE(r.start(/*verify_clients=*/true));
  snapshot_and_live_revocation(r, {r.pki.ca, r.pki.client, r.pki.client_key});
}

// A TLS setting the server refuses: edgekeyd keeps retrying without serving
// the upstream's keys, and what a user sees (the log line, /v1/status's
// nats.last_error) names `setting`.
void refused_and_named(TlsRegion &r, const sync::NatsTlsOptions &tls, const std::string &setting) {
  MintedKey k = mint_key("key_upstream");
  r.origin->put(k.record);
  auto d = r.daemon(tls);
  d->start();
  // 20 s: a TLS handshake under ASan on a loaded host takes seconds.
  ASSERT_TRUE(eventually([&] { return d->log().find(setting) != std::string::npos; }, 20000ms))
      << "no log line names " << setting << "; log:\n"
      << d->log();
  EXPECT_FALSE(d->wait_notify("READY=1", 500ms)) << d->log();
  // last_error is the latest attempt's: one that timed out on a loaded host
  // names no setting, the next refused one does again.
  nlohmann::json st;
  EXPECT_TRUE(eventually([&] {
    st = nats_status(*d);
    return st.is_object() && st.contains("last_error") && st["last_error"].is_string() &&
           st["last_error"].get<std::string>().find(setting) != std::string::npos;
  }, 10000ms)) << st.dump();
  EXPECT_EQ(st["connected"], false) << st.dump();
  EXPECT_EQ(st["synced"], false) << st.dump();
  EXPECT_EQ(code_of(*d, k.token), "keyset_unavailable") << d->log();
  auto v = Validator::open(d->table.c_str());
  if (v) {
    EXPECT_FALSE(v.validate("Bearer " + k.token).ok());
  }
  EXPECT_EQ(d->log().find("connected to NATS"), std::string::npos) << d->log();
  std::cout << "edgekeyd's log:\n" << d->log() << "nats.last_error: " << st["last_error"] << "\n";
}

TEST(NatsTls, WrongCaIsRefusedAndNamed) {
  TlsRegion r;
  ASSERT_TRUE(r.start(/*verify_clients=*/false));
  refused_and_named(r, {r.pki.other_ca, "", ""}, "upstream.nats.tls.ca");
}

TEST(NatsTls, MissingClientCertificateIsRefusedAndNamed) {
  TlsRegion r;
  ASSERT_TRUE(r.start(/*verify_clients=*/true));
  refused_and_named(r, {r.pki.ca, "", ""}, "upstream.nats.tls.cert");
  // The server refused it for the missing certificate, not something else.
  EXPECT_NE(r.topo.region(0).log().find("client didn't provide a certificate"), std::string::npos)
      << r.topo.region(0).log();
}

// No TLS settings and a nats:// URL for a server that requires TLS: libnats
// switches to TLS by itself, cannot verify the server, and the error names
// the CA setting.
TEST(NatsTls, NoTlsSettingsForATlsServerIsNamed) {
  TlsRegion r;
  ASSERT_TRUE(r.start(/*verify_clients=*/false));
  MintedKey k = mint_key("key_upstream");
  r.origin->put(k.record);
  std::string yaml = r.topo.upstream_yaml(r.topo.region(0), {});
  yaml.replace(yaml.find("tls://"), 6, "nats://");
  DaemonProcess d("", yaml);
  d.start();
  ASSERT_TRUE(eventually([&] { return d.log().find("set upstream.nats.tls.ca") != std::string::npos; },
                         10000ms))
      << d.log();
  EXPECT_FALSE(d.wait_notify("READY=1", 500ms)) << d.log();
  EXPECT_EQ(nats_status(d)["connected"], false);
  EXPECT_EQ(code_of(d, k.token), "keyset_unavailable") << d.log();
  std::cout << "edgekeyd's log:\n" << d.log();
}

}  // namespace
}  // namespace edgekey::test
