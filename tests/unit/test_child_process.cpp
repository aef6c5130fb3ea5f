// core/ChildProcess: the timed reads and waits the SwanLab sidecar relies on (training must never wait on it).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/child_process.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST(ChildProcess, ReadLineWithTimeoutReturnsLinesThenEndOfOutput) {
  zt::ChildProcess child({"sh", "-c", "echo one; echo two"});
  EXPECT_EQ(child.read_line(5000).value_or("<none>"), "one");
  EXPECT_EQ(child.read_line(5000).value_or("<none>"), "two");
  EXPECT_FALSE(child.read_line(5000).has_value());
  EXPECT_TRUE(child.output_ended());
  EXPECT_EQ(child.wait(), 0);
}

TEST(ChildProcess, ReadLineTimesOutOnASilentChild) {
  zt::ChildProcess child({"sh", "-c", "sleep 30"});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(child.read_line(200).has_value());
  EXPECT_FALSE(child.output_ended());
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_FALSE(child.wait(100).has_value());  // still running
  EXPECT_EQ(child.kill(), 128 + 9);
}

TEST(ChildProcess, WaitWithTimeoutSeesTheExitStatusAndClosedInput) {
  zt::ChildProcess child({"sh", "-c", "cat > /dev/null; exit 3"});
  ASSERT_TRUE(child.write_line("some input"));
  child.close_input();  // cat sees the end of its input and the shell exits
  const std::optional<int> status = child.wait(10000);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 3);
}

TEST(ChildProcess, SecretsTravelByEnvironment) {
  zt::ChildProcess child({"sh", "-c", "echo \"$ZT_TEST_SECRET\""}, {{"ZT_TEST_SECRET", "by-environment"}});
  EXPECT_EQ(child.read_line(5000).value_or("<none>"), "by-environment");
  EXPECT_EQ(child.wait(), 0);
}
