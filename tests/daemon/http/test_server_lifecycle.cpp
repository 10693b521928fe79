// HttpServer end to end, the socket file and shutdown: mode, stale and live
// sockets, clear start-up errors, close().
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <system_error>

#include <gtest/gtest.h>

#include "server_fixture.hpp"

namespace edgekey::daemon::http::test {
namespace {

TEST_F(HttpServerTest, SocketFileModeIsSet) {
  start({}, 0640);
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(HttpServerTest, StaleSocketFileIsReplaced) {
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, sock.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);  // the file stays, nobody listens: stale
  }
  start();
  EXPECT_TRUE(serves_a_new_client());
}

TEST_F(HttpServerTest, LiveSocketIsNotStolen) {
  start();
  EXPECT_EQ(start_errno(sock), EADDRINUSE);
  EXPECT_TRUE(serves_a_new_client());
}

TEST_F(HttpServerTest, RegularFileAtSocketPathIsLeftAlone) {
  { std::ofstream(sock) << "precious"; }
  EXPECT_TRUE(start_errno(sock));
  std::ifstream in(sock);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(HttpServerTest, TooLongSocketPathIsAClearError) {
  const std::string path = dir.path() + "/" + std::string(150, 's');
  EXPECT_EQ(start_errno(path), ENAMETOOLONG);
}

TEST_F(HttpServerTest, HandlerMayCloseTheServer) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET /shutdown HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(c.wait_closed());
  struct stat st {};
  EXPECT_NE(::stat(sock.c_str(), &st), 0);
  const auto deadline = Clock::now() + 3s;
  bool closed = false;
  while (!closed && Clock::now() < deadline) closed = loop.call([&] { return server->closed(); });
  EXPECT_TRUE(closed);
}

TEST_F(HttpServerTest, CloseUnlinksSocketAndClosesConnections) {
  start();
  Client idle(sock);
  ASSERT_TRUE(idle.send(kGet));
  ASSERT_TRUE(idle.read_response());
  Client busy(sock);
  ASSERT_TRUE(busy.send("GET /big HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(busy.wait_data(3000ms));

  auto done = std::make_shared<std::atomic<bool>>(false);
  loop.call([&] { server->close([done] { *done = true; }); });
  struct stat st {};
  EXPECT_NE(::stat(sock.c_str(), &st), 0) << "socket file still there";
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_TRUE(busy.wait_closed(10000ms));
  const auto deadline = Clock::now() + 3s;
  while (!*done && Clock::now() < deadline) loop.call([] {});
  EXPECT_TRUE(*done);
  EXPECT_TRUE(loop.call([&] { return server->closed(); }));
  Client late(sock);
  EXPECT_FALSE(late.ok());
}

}  // namespace
}  // namespace edgekey::daemon::http::test
