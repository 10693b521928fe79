// SideTask: work beside the caller's, joined on every way out.
#include "sync/record/side_task.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

using edgekey::sync::SideTask;

TEST(SideTask, RunsOnAnotherThreadAndWaitJoins) {
  std::thread::id ran_on;
  {
    SideTask t([&] { ran_on = std::this_thread::get_id(); });
    t.wait();
  }
  EXPECT_NE(ran_on, std::thread::id());
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(SideTask, WaitThrowsWhatTheWorkThrew) {
  SideTask t([] { throw std::runtime_error("out of room"); });
  try {
    t.wait();
    FAIL() << "wait() returned";
  } catch (const std::runtime_error &e) {
    EXPECT_STREQ(e.what(), "out of room");
  }
  EXPECT_NO_THROW(t.wait());  // thrown once
}

// The caller throws while the work runs: the SideTask's destructor joins
// (a std::thread's would end the process), after the work has finished.
TEST(SideTask, CallerThrowingWaitsForTheWork) {
  std::atomic<bool> release{false}, finished{false};
  EXPECT_THROW(
      {
        SideTask t([&] {
          while (!release.load()) std::this_thread::yield();
          finished = true;
        });
        release = true;
        throw std::runtime_error("caller failed");
      },
      std::runtime_error);
  EXPECT_TRUE(finished.load());
}
