// edgekey_demo: the library end to end without edgekeyd -- create a table,
// mint three keys, validate them as a worker would, revoke one.
#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"

#include <edgekey/validator.hpp>

#include <cstdio>

using namespace edgekey;

int main() {
  shm::TableOptions o;
  o.name = "edgekey-demo";
  o.permissions = {"chat:write", "agents:read", "agents:deploy"};
  o.roles = {"developer", "viewer"};
  shm::TableWriter::destroy(o.name);
  shm::TableWriter writer(o);

  auto mint = [&](const char *id, const char *type, uint64_t perms) {
    std::string token = shm::generate_token("ek", type, "live");
    shm::TableRecord r;
    shm::TokenHasher().hash(token, r.hash.data());
    r.key_id = id;
    r.workspace = "ws_demo";
    r.type = type[0] == 's' ? EK_TYPE_SECRET : EK_TYPE_PUBLISHABLE;
    r.perms = perms;
    if (r.type == EK_TYPE_PUBLISHABLE) r.origins = {"https://app.example.com"};
    writer.put(r);
    return std::make_pair(token, r.hash);
  };
  auto [ci, ci_hash] = mint("key_ci", "sk", 0b111);
  auto [web, web_hash] = mint("key_web", "pk", 0b001);
  auto validator = Validator::open(o.name.c_str());
  if (!validator) {
    std::fprintf(stderr, "%s\n", Validator::error_text(validator.error()));
    return 1;
  }
  auto show = [&](const char *what, const std::string &auth, Request req) {
    Result r = validator.validate(auth, req);
    std::printf("%-44s -> %d %-24s %s\n", what, r.status, r.code_name(), r.key_id);
  };
  std::printf("table /dev/shm/%s, token of key_ci: %.14s... (shown once)\n\n", o.name.c_str(), ci.c_str());
  show("key_ci, agents:deploy", "Bearer " + ci, {.permission = "agents:deploy"});
  show("key_web from its origin, chat:write", "Bearer " + web,
       {.permission = "chat:write", .origin = "https://app.example.com"});
  show("key_web, agents:deploy", "Bearer " + web,
       {.permission = "agents:deploy", .origin = "https://app.example.com"});
  show("key_web from another origin", "Bearer " + web, {.origin = "https://evil.example"});
  show("a token with a bad checksum", "Bearer " + ci.substr(0, ci.size() - 1) + "x", {});
  show("no token", "", {});
  writer.revoke(ci_hash);
  show("key_ci after revoke", "Bearer " + ci, {});
  shm::TableWriter::destroy(o.name);
  return 0;
}
