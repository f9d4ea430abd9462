// A private directory for this test process: created (mkdtemp, mode 0700) under the system temp
// dir ($TMPDIR) on first use and removed with everything in it when the process exits, so the
// TLS keys and certificates tests write never outlive the run (ctest runs each test in its own
// process: a directory per pid left behind used to pile up, private keys included).
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace tern::test {

inline const std::filesystem::path& run_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir() {
      std::string tmpl = (std::filesystem::temp_directory_path() / "tern-unit-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
      path = tmpl;
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir d;
  return d.path;
}

}  // namespace tern::test
