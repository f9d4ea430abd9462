// `tern serve`: the composition root. Opens the store and the spool (recovering it), builds TLS,
// starts the listeners on one io_context per I/O thread, and runs until SIGINT/SIGTERM.
#pragma once
#include "app/config.hpp"

namespace tern::app {

int serve(const Config& cfg);

}  // namespace tern::app
