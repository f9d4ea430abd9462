// The node id file (app/node_id.hpp): made once and kept, one live process per data dir, a
// configured id that contradicts the data dir refused, hostile ids refused; the data dir's
// instance kept across restarts (also on a machine without a host name) and made anew for a copy
// of the data dir; a new run nonce at every claim.
#include "app/node_id.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/node_registry.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::app {
namespace {

std::string read_file(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(NodeId, MadeOnFirstClaimThenKept) {
  test::TempDir dir;
  const std::string data = dir.file("");
  std::string first;
  {
    auto n = NodeId::claim(data, "");
    ASSERT_TRUE(n.ok()) << n.error().message;
    first = n->id();
    EXPECT_TRUE(valid_node_id(first)) << first;
    EXPECT_EQ(read_file(dir.file("node.id")), first + "\n");
    struct stat st {};
    ASSERT_EQ(::stat(dir.file("node.id").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  auto again = NodeId::claim(data, "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id(), first);
  auto other = NodeId::claim(dir.file("elsewhere"), "");  // no such dir: an error, not a crash
  EXPECT_FALSE(other.ok());
}

TEST(NodeId, ConfiguredIdIsWrittenAndMustMatchLater) {
  test::TempDir dir;
  {
    auto n = NodeId::claim(dir.file(""), "mx-1");
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(n->id(), "mx-1");
  }
  EXPECT_TRUE(NodeId::claim(dir.file(""), "mx-1").ok());
  EXPECT_EQ(NodeId::claim(dir.file(""), "").value().id(), "mx-1");
  auto wrong = NodeId::claim(dir.file(""), "mx-2");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, core::ErrorCode::invalid);
  EXPECT_EQ(read_file(dir.file("node.id")), "mx-1\n");  // not overwritten
}

TEST(NodeId, ASecondProcessOnTheSameDataDirIsRefused) {
  test::TempDir dir;
  auto n = NodeId::claim(dir.file(""), "");
  ASSERT_TRUE(n.ok());
  // flock is per open file: another process (a second `tern serve`) must fail while we live.
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto second = NodeId::claim(dir.file(""), "");
    ::_exit(!second.ok() && second.error().code == core::ErrorCode::conflict ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(NodeId, HostileIdsAreRefused) {
  for (const char* bad : {"", "-a", "A", "a b", "a/b", "a'b", "a;drop", "../x",
                          "abcdefghijabcdefghijabcdefghijabc", "a\nb", "n\xc3\xa9"})
    EXPECT_FALSE(valid_node_id(bad)) << bad;
  for (const char* ok : {"a", "node-1", "mx-eu-2", "0", "abcdefghijabcdefghijabcdefghijab"})
    EXPECT_TRUE(valid_node_id(ok)) << ok;
  test::TempDir dir;
  EXPECT_FALSE(NodeId::claim(dir.file(""), "Bad Id").ok());
  // A damaged node.id is reported, not replaced.
  std::ofstream(dir.file("node.id")) << "not valid!\n";
  auto r = NodeId::claim(dir.file(""), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::corrupt);
}

TEST(NodeId, TheDataDirsInstanceIsMadeOnceAndKept) {
  test::TempDir dir;
  std::string first;
  {
    auto n = NodeId::claim(dir.file(""), "mx-1");
    ASSERT_TRUE(n.ok()) << n.error().message;
    first = n->instance();
    EXPECT_TRUE(store::persistent_instance(first)) << first;
    EXPECT_NE(n->note().find("made"), std::string::npos) << n->note();
    struct stat st {};
    ASSERT_EQ(::stat(dir.file("node.instance").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(read_file(dir.file("node.instance")).rfind(first + " ", 0), 0u);
  }
  // A restart (a crash leaves the file as it was): the same instance, nothing to say.
  auto again = NodeId::claim(dir.file(""), "mx-1");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->instance(), first);
  EXPECT_EQ(again->note(), "");
  EXPECT_FALSE(std::filesystem::exists(dir.file("node.instance.tmp")));
}

TEST(NodeId, WithoutAHostNameTheInstanceIsKeptToo) {
  // gethostname gave nothing (a bare container): the file holds "-" in its place, so that a
  // restart reads it back instead of making a new instance every time.
  test::TempDir dir;
  std::string first;
  {
    auto n = NodeId::claim(dir.file(""), "mx-1", "");
    ASSERT_TRUE(n.ok()) << n.error().message;
    first = n->instance();
    EXPECT_NE(n->note(), "");
  }
  auto again = NodeId::claim(dir.file(""), "mx-1", "");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->instance(), first);
  EXPECT_EQ(again->note(), "") << again->note();
  const std::string text = read_file(dir.file("node.instance"));
  EXPECT_EQ(text.substr(text.size() - 3), " -\n") << text;
}

TEST(NodeId, TheSameFileUnderAnotherHostNameKeepsItsInstance) {
  // A recreated container (a new host name) on the same volume (the same inode): the same data
  // dir, not a copy; it keeps its instance, so that after kill -9 it takes its id back at once
  // (the registry's run check, not lease_s). Said once; the file then names the new host.
  test::TempDir dir;
  std::string first;
  {
    auto n = NodeId::claim(dir.file(""), "mx-1", "pod-abc12");
    ASSERT_TRUE(n.ok()) << n.error().message;
    first = n->instance();
  }
  {
    auto n = NodeId::claim(dir.file(""), "mx-1", "pod-xyz98");
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(n->instance(), first);
    EXPECT_NE(n->note().find("kept"), std::string::npos) << n->note();
    EXPECT_NE(n->note().find("pod-abc12"), std::string::npos) << n->note();
  }
  auto again = NodeId::claim(dir.file(""), "mx-1", "pod-xyz98");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->instance(), first);
  EXPECT_EQ(again->note(), "");
  EXPECT_NE(read_file(dir.file("node.instance")).find(" pod-xyz98\n"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("node.instance.tmp")));
}

TEST(NodeId, EveryClaimDrawsANewRun) {
  test::TempDir dir;
  std::string first;
  {
    auto n = NodeId::claim(dir.file(""), "mx-1");
    ASSERT_TRUE(n.ok()) << n.error().message;
    first = n->run();
  }
  auto again = NodeId::claim(dir.file(""), "mx-1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(first.size(), 22u);
  EXPECT_EQ(first.rfind("r-", 0), 0u) << first;
  EXPECT_NE(again->run(), first);  // same instance, another process
  EXPECT_TRUE(store::persistent_instance("i-" + again->run().substr(2)));  // base32 only
}

TEST(NodeId, ACopiedDataDirIsAnInstanceOfItsOwn) {
  test::TempDir dir;
  std::string original;
  std::filesystem::create_directory(dir.file("a"));
  {
    auto n = NodeId::claim(dir.file("a"), "mx-1");
    ASSERT_TRUE(n.ok()) << n.error().message;
    original = n->instance();
  }
  // cp -a of the data dir (or a restore on a replacement machine): the files are new ones.
  std::filesystem::create_directory(dir.file("b"));
  std::filesystem::copy_file(dir.file("a/node.id"), dir.file("b/node.id"));
  std::filesystem::copy_file(dir.file("a/node.instance"), dir.file("b/node.instance"));
  auto copy = NodeId::claim(dir.file("b"), "");
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  EXPECT_EQ(copy->id(), "mx-1");
  EXPECT_NE(copy->instance(), original);
  EXPECT_NE(copy->note().find("another copy of this data dir"), std::string::npos) << copy->note();
  // The original keeps its own.
  auto a = NodeId::claim(dir.file("a"), "");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->instance(), original);
}

TEST(NodeId, ADamagedInstanceFileIsReplaced) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.file("d"));
  std::ofstream(dir.file("d/node.instance")) << "i-NOT_BASE32 12 host\n";
  auto n = NodeId::claim(dir.file("d"), "mx-1");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_TRUE(store::persistent_instance(n->instance()));
  EXPECT_NE(n->note().find("not readable"), std::string::npos) << n->note();
}

}  // namespace
}  // namespace tern::app
