// `tern serve`: the composition root. Opens the store and the spool (recovering it), builds TLS
// and every part of the server without starting anything, hands the parts' lifecycles to an
// app::Runtime (start in order, stop and join in reverse: the order and its reasons are stated
// once, where serve() adds the services), and runs until SIGINT/SIGTERM or a service thread
// fails. Returns 0 after a clean stop; throws when the server cannot start (what had started
// is stopped first).
#pragma once
#include "app/config.hpp"

namespace tern::app {

int serve(const Config& cfg);

}  // namespace tern::app
