// Secrets the server keeps in files of its own (issue 5): the operator's API token
// ([http] admin_token_file, default <data>/admin.token) and the key that signs tracking links
// ([tracking] secret_file, default <data>/tracking.key). Made on first start, then reused, so
// links in mail already sent and scripts holding the token keep working across restarts.
// Invariants: a file is created 0600 with O_EXCL (two starting servers never both write one);
// an existing file readable by group or others, empty, or unreadable is a start-up error
// (std::runtime_error naming the path), never silently replaced.
#pragma once
#include <functional>
#include <string>

namespace tern::app {

// The file's content (text: surrounding whitespace removed). When the file does not exist,
// make() is written to it and returned, and *created is set.
std::string load_or_create_secret(const std::string& path, const std::function<std::string()>& make,
                                  bool text, bool* created = nullptr);

// Replaces the file at path with content, atomically: written 0600 to path + ".new", fsynced,
// renamed over path. Throws std::runtime_error naming the path; the old file stays on failure.
void replace_secret_file(const std::string& path, const std::string& content);

// "tern_admin_" + 32 lower-case base32 characters (160 random bits).
std::string new_admin_token();
// 32 random bytes.
std::string new_tracking_secret();

}  // namespace tern::app
