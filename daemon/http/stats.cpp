#include "daemon/http/stats.hpp"

namespace edgekey::daemon::http {

namespace {

void metric_header(std::string& out, std::string_view prefix, std::string_view name,
                   std::string_view type, std::string_view help) {
  out.append("# HELP ").append(prefix).append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(prefix).append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view prefix, std::string_view name,
            std::string_view labels, std::uint64_t value) {
  out.append(prefix).append(name).append(labels).append(" ").append(std::to_string(value));
  out.push_back('\n');
}

}  // namespace

void ServerStats::append_prometheus(std::string& out, std::string_view prefix) const {
  metric_header(out, prefix, "_connections_open", "gauge", "HTTP connections being served.");
  sample(out, prefix, "_connections_open", "", connections_open);
  metric_header(out, prefix, "_connections_total", "counter", "HTTP connections accepted.");
  sample(out, prefix, "_connections_total", "", connections_total);
  metric_header(out, prefix, "_requests_total", "counter", "HTTP requests handled.");
  sample(out, prefix, "_requests_total", "", requests_total);
  metric_header(out, prefix, "_idle_closed_total", "counter",
                "Keep-alive connections closed by the idle timeout.");
  sample(out, prefix, "_idle_closed_total", "", idle_closed);

  metric_header(out, prefix, "_responses_total", "counter", "HTTP responses by status class.");
  static constexpr std::string_view kClass[] = {"", "{class=\"1xx\"}", "{class=\"2xx\"}",
                                                "{class=\"3xx\"}", "{class=\"4xx\"}",
                                                "{class=\"5xx\"}"};
  for (std::size_t c = 1; c < responses_by_class.size(); ++c) {
    sample(out, prefix, "_responses_total", kClass[c], responses_by_class[c]);
  }

  metric_header(out, prefix, "_rejected_total", "counter",
                "Requests or connections refused by the server itself, by reason.");
  sample(out, prefix, "_rejected_total", "{reason=\"header_too_large\"}",
         rejected.header_too_large);
  sample(out, prefix, "_rejected_total", "{reason=\"body_too_large\"}", rejected.body_too_large);
  sample(out, prefix, "_rejected_total", "{reason=\"bad_request\"}", rejected.bad_request);
  sample(out, prefix, "_rejected_total", "{reason=\"timeout\"}", rejected.timeout);
  sample(out, prefix, "_rejected_total", "{reason=\"overload\"}", rejected.overload);
}

}  // namespace edgekey::daemon::http
