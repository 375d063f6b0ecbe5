// The verbs of the facefuse executable.
#pragma once

namespace facefuse::cli {

// Parses argv and runs the chosen verb; returns the process exit code
// (0 ok, 1 processing failure, 2 bad arguments or input).
int run_cli(int argc, char** argv);

}  // namespace facefuse::cli
