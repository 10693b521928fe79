# reset_log_dir.cmake -- the edgekey_test_logs fixture's set-up: an empty
# EDGEKEY_TEST_LOG_DIR before the tests that write their logs there run, so
# log_scan reads this run's logs only.
#   cmake -DDIR=<dir> -P reset_log_dir.cmake
if(NOT DIR)
  message(FATAL_ERROR "reset_log_dir.cmake: -DDIR=<log directory> is required")
endif()
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}")
