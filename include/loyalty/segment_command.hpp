// The analysts' commands of loyalty-hq as library functions, so that the executable only
// dispatches and tests can run them on strings:
//
//   loyalty-hq segment [--transactions FILE.csv] --as-of YYYY-MM-DD [--horizon-days N]
//                      [--members-out FILE.csv] [--format text|json]
//   loyalty-hq demo-data [--members N] [--seed S] [--until YYYY-MM-DD]
//
// `args` are the words after the command name. Output goes to `out`, diagnostics to `err`.
// Exit codes: 0 success, 1 bad input data or an unwritable output, 2 bad usage.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "loyalty/transactions.hpp"

namespace loyalty::analytics {

// Where `segment` reads history when --transactions is not given (head office: its database).
// Called once with the as-of day; errors it returns are reported and stop the run.
using HistorySource = std::function<LoadResult(DayNumber as_of)>;

int run_segment_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                        const HistorySource& source = {});

// Writes a synthetic chain (demo_chain.hpp) as a transactions CSV that `segment` reads.
int run_demo_data_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace loyalty::analytics
