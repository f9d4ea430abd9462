// The operator token and tracking key files: made 0600 on first use, reused after, refused when
// readable by others or empty.
#include "app/secret_files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "unit/store/test_dir.hpp"

namespace tern::app {
namespace {

TEST(SecretFilesTest, CreatedOnceThenReused) {
  test::TempDir dir;
  const std::string path = dir.file("sub/admin.token");
  bool created = false;
  const std::string t1 = load_or_create_secret(path, new_admin_token, true, &created);
  EXPECT_TRUE(created);
  EXPECT_TRUE(t1.starts_with("tern_admin_"));
  EXPECT_EQ(t1.size(), 11u + 32u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string t2 = load_or_create_secret(path, new_admin_token, true, &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(t1, t2);
  EXPECT_NE(new_admin_token(), new_admin_token());
}

TEST(SecretFilesTest, BinarySecretKeptExactly) {
  test::TempDir dir;
  const std::string path = dir.file("tracking.key");
  const std::string k1 = load_or_create_secret(path, new_tracking_secret, false);
  EXPECT_EQ(k1.size(), 32u);
  EXPECT_EQ(load_or_create_secret(path, new_tracking_secret, false), k1);
}

TEST(SecretFilesTest, OperatorFileTrimmedAndLooseOrEmptyRefused) {
  test::TempDir dir;
  const std::string path = dir.file("token");
  {
    std::ofstream f(path);
    f << "  my-own-operator-token-123\n";
  }
  ::chmod(path.c_str(), 0600);
  EXPECT_EQ(load_or_create_secret(path, new_admin_token, true), "my-own-operator-token-123");
  ::chmod(path.c_str(), 0644);
  EXPECT_THROW(load_or_create_secret(path, new_admin_token, true), std::runtime_error);
  { std::ofstream f(path, std::ios::trunc); }
  ::chmod(path.c_str(), 0600);
  EXPECT_THROW(load_or_create_secret(path, new_admin_token, true), std::runtime_error);
}

TEST(SecretFilesTest, ReplacedAtomicallyAndPrivately) {
  test::TempDir dir;
  const std::string path = dir.file("tracking.key");
  const std::string old = load_or_create_secret(path, new_tracking_secret, false);
  const std::string region(32, '\x07');
  std::ofstream(path + ".new") << "debris of a crash";  // a leftover temporary is no obstacle
  replace_secret_file(path, region);
  EXPECT_EQ(load_or_create_secret(path, new_tracking_secret, false), region);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(::stat((path + ".new").c_str(), &st), 0);
  // A directory that cannot take the temporary: an error naming it, the old file untouched.
  EXPECT_THROW(replace_secret_file(dir.file("missing/dir/key"), region), std::runtime_error);
  EXPECT_NE(old, region);
}

}  // namespace
}  // namespace tern::app
