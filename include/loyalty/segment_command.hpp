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
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "loyalty/segmentation.hpp"
#include "loyalty/transactions.hpp"

namespace loyalty::analytics {

// Where `segment` reads history when --transactions is not given (head office: its database).
// Called once with the as-of day; errors it returns are reported and stop the run.
using HistorySource = std::function<LoadResult(DayNumber as_of)>;

int run_segment_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                        const HistorySource& source = {});

// The parsed words of `segment`, for callers that run it their own way (head office stores
// the run, see sync/hq_segmentation.hpp).
struct SegmentRequest {
    SegmentationConfig config;
    std::optional<std::string> transactions;  // --transactions FILE
    std::optional<std::string> members_out;   // --members-out FILE
    bool json = false;                        // --format json
};
// The request, or the exit code once the usage (--help: 0) or the reason (2) is printed.
std::variant<SegmentRequest, int> parse_segment_request(const std::vector<std::string>& args, std::ostream& out,
                                                        std::ostream& err);
// Writes --members-out if asked; false (and a message) if the file cannot be written.
bool write_members_file(const SegmentRequest& request, const SegmentationResult& result,
                        const PurchaseHistory& history, std::ostream& err);

// Writes a synthetic chain (demo_chain.hpp) as a transactions CSV that `segment` reads.
int run_demo_data_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace loyalty::analytics
