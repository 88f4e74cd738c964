// How many cores this process may use.
#pragma once

#include <cstddef>

namespace hifi {

// The cores this process may run on: its CPU affinity (taskset, a
// container's cpuset), not every core of the machine. At least 1. Pools
// sized per core use this, so a server limited to one core runs one network
// thread instead of several that take turns on it.
std::size_t usable_cores();

}  // namespace hifi
