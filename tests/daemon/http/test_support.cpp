#include "test_support.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace edgekey::daemon::http::test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/ekhttp.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

LoopThread::LoopThread() {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &LoopThread::on_async);
  async_.data = this;
}

LoopThread::~LoopThread() {
  stop();
  uv_run(&loop_, UV_RUN_NOWAIT);  // close callbacks of a loop that never ran
  uv_loop_close(&loop_);
}

void LoopThread::start() {
  running_ = true;
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

void LoopThread::stop(std::function<void()> fn) {
  if (!running_) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&async_))) {
      if (fn) fn();
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    }
    return;
  }
  call([&] {
    if (fn) fn();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  });
  thread_.join();
  running_ = false;
}

void LoopThread::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void LoopThread::on_async(uv_async_t* a) {
  auto* self = static_cast<LoopThread*>(a->data);
  for (;;) {
    std::function<void()> fn;
    {
      std::lock_guard lock(self->mu_);
      if (self->queue_.empty()) return;
      fn = std::move(self->queue_.front());
      self->queue_.pop_front();
    }
    fn();
  }
}

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequal(n, name)) return v;
  }
  return std::nullopt;
}

std::optional<HttpResponse> take_response(std::string& buf, bool head) {
  const std::size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  HttpResponse r;
  std::string_view headtext(buf.data(), end);
  const std::size_t eol = headtext.find("\r\n");
  const std::string_view status_line = headtext.substr(0, eol);
  if (status_line.size() < 12 || status_line.substr(0, 9) != "HTTP/1.1 ") {
    throw std::runtime_error("bad status line: " + std::string(status_line));
  }
  r.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  std::size_t pos = eol == std::string_view::npos ? headtext.size() : eol + 2;
  std::size_t length = 0;
  while (pos < headtext.size()) {
    std::size_t next = headtext.find("\r\n", pos);
    if (next == std::string_view::npos) next = headtext.size();
    const std::string_view line = headtext.substr(pos, next - pos);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) throw std::runtime_error("bad header line");
    std::string name(line.substr(0, colon));
    std::string value(line.substr(colon + 1));
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (iequal(name, "content-length")) length = std::stoul(value);
    r.headers.emplace_back(std::move(name), std::move(value));
    pos = next + 2;
  }
  if (head || r.status < 200 || r.status == 204 || r.status == 304) length = 0;
  if (buf.size() < end + 4 + length) return std::nullopt;
  r.body = buf.substr(end + 4, length);
  buf.erase(0, end + 4 + length);
  return r;
}

Client::Client(const std::string& path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) close();
}

Client::~Client() { close(); }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Client::send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

Client::Fill Client::fill(std::chrono::steady_clock::time_point deadline) {
  if (eof_) return Fill::closed;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return Fill::timeout;
    pollfd p{fd_, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return Fill::timeout;
      continue;
    }
    char buf[64 * 1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      rx_.append(buf, static_cast<std::size_t>(n));
      return Fill::data;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    eof_ = true;  // 0 = orderly close; ECONNRESET = closed with our data unread
    return Fill::closed;
  }
}

std::optional<HttpResponse> Client::read_response(std::chrono::milliseconds timeout, bool head) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto r = take_response(rx_, head)) return r;
    if (fill(deadline) != Fill::data) return std::nullopt;
  }
}

bool Client::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    switch (fill(deadline)) {
      case Fill::closed: return true;
      case Fill::timeout: return false;
      case Fill::data: break;
    }
  }
}

bool Client::wait_data(std::chrono::milliseconds timeout) {
  const std::size_t before = rx_.size();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  return fill(deadline) == Fill::data && rx_.size() > before;
}

}  // namespace edgekey::daemon::http::test
