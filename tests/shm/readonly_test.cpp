// Readers never write: the reader maps the table read-only, and a write
// through its mapping faults.
#include "table_fixture.hpp"

#include "shm/src/validator_state.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <fstream>

using namespace edgekey;
using namespace edgekey::test;

TEST(ReadOnly, MappingsAreReadOnlyInProcMaps) {
  TableFixture t("romaps");
  t.writer->load({mint("key_a").rec});
  t.writer.reset();  // only the reader's mappings remain in this process
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int seen = 0;
  while (std::getline(maps, line)) {
    if (line.find("/dev/shm/" + t.name) == std::string::npos) continue;
    // The validator's own usage segment (#19) is the one writable mapping, apart from the table.
    if (line.find("/dev/shm/" + t.name + ".usage/") != std::string::npos) {
      EXPECT_EQ(line.substr(line.find(' ') + 1, 4), "rw-s") << line;
      continue;
    }
    ++seen;
    std::string perms = line.substr(line.find(' ') + 1, 4);
    EXPECT_EQ(perms, "r--s") << line;
  }
  EXPECT_EQ(seen, 2);  // the control segment and one generation
  ek_close(v);
}

TEST(ReadOnly, AWriteThroughTheReadersMappingFaults) {
  TableFixture t("rofault");
  t.writer->load({mint("key_a").rec});
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
  for (int target = 0; target < 2; ++target) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      signal(SIGSEGV, SIG_DFL);  // not a sanitizer's handler: die by the signal
      volatile uint64_t *p =
          target == 0 ? (volatile uint64_t *)&v->control()->generation
                      : (volatile uint64_t *)&v->view().slots[0].w[0];
      *p = 12345;
      _exit(0);  // reached only if the write did not fault
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
        << "target " << target << " status " << status;
  }
  ek_close(v);
}
