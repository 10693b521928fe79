#include <gtest/gtest.h>

#include "daemon/http/histogram.hpp"
#include "daemon/http/stats.hpp"

namespace edgekey::daemon::http {
namespace {

using namespace std::chrono_literals;

TEST(LatencyHistogram, BucketsAreInclusiveUpperBounds) {
  LatencyHistogram h;
  h.observe(5us);       // le 5us
  h.observe(5001ns);    // le 10us
  h.observe(10ms);      // le 10000us
  h.observe(10001us);   // +Inf
  h.observe(-1ns);      // clamped to 0: le 5us
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(10), 1u);
  EXPECT_EQ(h.bucket(11), 1u);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.sum(), 5us + 5001ns + 10ms + 10001us);
}

TEST(LatencyHistogram, RendersPrometheusText) {
  LatencyHistogram h;
  h.observe(3us);
  h.observe(30us);
  h.observe(1500ms);
  EXPECT_EQ(h.render_prometheus("edgekey_http_request_duration_seconds", "Time to answer."),
            "# HELP edgekey_http_request_duration_seconds Time to answer.\n"
            "# TYPE edgekey_http_request_duration_seconds histogram\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.000005\"} 1\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.00001\"} 1\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.000025\"} 1\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.00005\"} 2\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.0001\"} 2\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.00025\"} 2\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.0005\"} 2\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.001\"} 2\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.0025\"} 2\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.005\"} 2\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"0.01\"} 2\n"
            "edgekey_http_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"
            "edgekey_http_request_duration_seconds_sum 1.500033000\n"
            "edgekey_http_request_duration_seconds_count 3\n");
}

TEST(LatencyHistogram, LabelledSeries) {
  LatencyHistogram h;
  std::string out;
  h.append_series(out, "m", "path=\"/v1/validate\"");
  EXPECT_NE(out.find("m_bucket{path=\"/v1/validate\",le=\"+Inf\"} 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("m_sum{path=\"/v1/validate\"} 0.000000000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("m_count{path=\"/v1/validate\"} 0\n"), std::string::npos) << out;
}

TEST(ServerStats, RendersCounters) {
  ServerStats s;
  s.connections_open = 2;
  s.count_response(200);
  s.count_response(503);
  s.rejected.overload = 1;
  std::string out;
  s.append_prometheus(out, "edgekey_http");
  EXPECT_NE(out.find("# TYPE edgekey_http_connections_open gauge\nedgekey_http_connections_open 2\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("edgekey_http_responses_total{class=\"2xx\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("edgekey_http_responses_total{class=\"5xx\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("edgekey_http_rejected_total{reason=\"overload\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace edgekey::daemon::http
