// failure_text.hpp -- how a log line words an exception caught where
// edgekeyd goes on (a loop callback, a source's retry): std::bad_alloc is
// the process at its memory limit, said in words with what to check.
#pragma once

#include <exception>
#include <new>
#include <string>

namespace edgekey::sync {

// May itself throw std::bad_alloc: a caller with no memory left logs nothing.
inline std::string failure_text(const std::exception &e) {
  if (dynamic_cast<const std::bad_alloc *>(&e))
    return "out of memory (check the host's free memory and the container's or unit's memory limit)";
  return e.what();
}

}  // namespace edgekey::sync
