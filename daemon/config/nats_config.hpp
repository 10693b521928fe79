// nats_config.hpp -- the `upstream.nats` block of edgekey.yaml (internal to
// daemon/config; the NatsConfig struct itself is in config.hpp).
#pragma once

#include "daemon/config/config.hpp"
#include "daemon/config/yaml_reader.hpp"

#include <string>
#include <string_view>

namespace edgekey::daemon {

// True for nats://HOST[:PORT] and tls://HOST[:PORT]: HOST a DNS name, an
// IPv4 literal or a bracketed IPv6 literal, PORT 1..65535. No user info,
// path, query or fragment (credentials have their own keys).
bool valid_nats_url(std::string_view url);

namespace detail {
// Reads and checks the block at `path` ("upstream.nats").
NatsConfig read_nats(const Reader &r, const YAML::Node &n, const std::string &path);
}  // namespace detail

}  // namespace edgekey::daemon
