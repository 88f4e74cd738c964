#include "common/cores.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

namespace hifi {
namespace {

TEST(CoresTest, CountsTheCoresOfTheAffinityMask) {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  ASSERT_EQ(::sched_getaffinity(0, sizeof mine, &mine), 0);
  EXPECT_EQ(usable_cores(), static_cast<std::size_t>(CPU_COUNT(&mine)));

  // A thread limited to one core (as `taskset -c 0` limits a process) may
  // use one, whatever the machine has.
  int first = 0;
  while (!CPU_ISSET(first, &mine)) ++first;
  std::size_t seen = 0;
  bool limited_ok = false;
  std::thread limited([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    limited_ok = ::sched_setaffinity(0, sizeof one, &one) == 0;
    if (limited_ok) seen = usable_cores();
  });
  limited.join();
  if (!limited_ok) GTEST_SKIP() << "this sandbox refuses sched_setaffinity";
  EXPECT_EQ(seen, 1u);
}

}  // namespace
}  // namespace hifi
