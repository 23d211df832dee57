#include "loyalty/segment_command.hpp"

#include <charconv>
#include <fstream>
#include <map>
#include <optional>

#include "loyalty/demo_chain.hpp"

namespace loyalty::analytics {
namespace {

constexpr int exit_ok = 0;
constexpr int exit_bad_input = 1;
constexpr int exit_usage = 2;

constexpr const char* segment_usage =
    "usage: loyalty-hq segment [--transactions FILE.csv] --as-of YYYY-MM-DD [--horizon-days N]\n"
    "                          [--members-out FILE.csv] [--format text|json] [--replace]\n"
    "Segments every member: RFM, value tier, lifecycle, tags, churn (BG/NBD), CLV (Gamma-Gamma),\n"
    "clusters and cross-sell rules. Without --transactions it reads the head-office database and\n"
    "stores the run there, once per as-of date and options (--replace computes it again).\n"
    "  --transactions FILE  CSV with header member_id,date,amount[,category,sku,store,quantity,discount]\n"
    "  --as-of DATE         last day of history to use; later lines are ignored\n"
    "  --horizon-days N     horizon of expected purchases and CLV (default 365)\n"
    "  --members-out FILE   write one CSV row of results per member\n"
    "  --format text|json   report format on standard output (default text)\n";

constexpr const char* demo_usage =
    "usage: loyalty-hq demo-data [--members N] [--seed S] [--until YYYY-MM-DD]\n"
    "Writes a synthetic chain's two-year purchase history as a transactions CSV.\n";

// "--name value" and "--name=value" pairs, checked against the allowed names. A usage error
// is a message; --help is the name "help" with no value.
using Options = std::map<std::string, std::string>;

std::optional<Options> parse_options(const std::vector<std::string>& args, const std::vector<std::string>& allowed,
                                     std::ostream& err) {
    Options options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& word = args[i];
        if (word == "--help" || word == "-h") return Options{{"help", ""}};
        const auto equals = word.find('=');
        const std::string name = word.substr(0, equals);
        if (!name.starts_with("--") || std::find(allowed.begin(), allowed.end(), name.substr(2)) == allowed.end()) {
            err << "unknown option '" << word << "'; see --help\n";
            return std::nullopt;
        }
        if (equals == std::string::npos && i + 1 == args.size()) {
            err << "option " << name << " needs a value; see --help\n";
            return std::nullopt;
        }
        options[name.substr(2)] = equals != std::string::npos ? word.substr(equals + 1) : args[++i];
    }
    return options;
}

template <typename Number>
bool parse_number(const std::string& text, Number& value, Number low, Number high) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc{} && end == text.data() + text.size() && value >= low && value <= high;
}

std::optional<SegmentationConfig> segment_config(const Options& options, std::ostream& err) {
    SegmentationConfig config;
    const auto as_of = options.find("as-of");
    if (as_of == options.end()) {
        err << "--as-of YYYY-MM-DD is required: the last day of history to segment\n";
        return std::nullopt;
    }
    const auto day = parse_day(as_of->second);
    if (!day) {
        err << "--as-of '" << as_of->second << "' is not a date; write it as YYYY-MM-DD\n";
        return std::nullopt;
    }
    config.as_of = *day;
    if (const auto horizon = options.find("horizon-days");
        horizon != options.end() && !parse_number(horizon->second, config.horizon_days, 1, 3650)) {
        err << "--horizon-days '" << horizon->second << "' must be a whole number of days from 1 to 3650\n";
        return std::nullopt;
    }
    if (const auto format = options.find("format");
        format != options.end() && format->second != "text" && format->second != "json") {
        err << "--format must be text or json, not '" << format->second << "'\n";
        return std::nullopt;
    }
    return config;
}

void report_input_errors(const std::vector<InputError>& errors, const std::string& origin, std::ostream& err) {
    for (const InputError& error : errors) {
        err << origin;
        if (error.line > 0) err << ':' << error.line;
        err << ": ";
        if (!error.column.empty()) err << "column " << error.column << ": ";
        err << error.message << '\n';
    }
    err << "no results: fix the rows above and run again\n";
}

std::optional<LoadResult> load_history(const SegmentRequest& request, const HistorySource& source,
                                       std::ostream& err) {
    if (!request.transactions && !source) {
        err << "no history to read: pass --transactions FILE.csv\n";
        return std::nullopt;
    }
    const std::string origin = request.transactions.value_or("database");
    LoadResult loaded;
    if (request.transactions) {
        std::ifstream input(*request.transactions, std::ios::binary);
        if (!input) {
            err << "cannot open '" << *request.transactions << "' for reading\n";
            return std::nullopt;
        }
        loaded = parse_transactions_csv(input);
    } else {
        loaded = source(request.config.as_of);
    }
    if (!loaded.errors.empty()) {
        report_input_errors(loaded.errors, origin, err);
        return std::nullopt;
    }
    return loaded;
}

}  // namespace

std::variant<SegmentRequest, int> parse_segment_request(const std::vector<std::string>& args, std::ostream& out,
                                                        std::ostream& err) {
    const auto options =
        parse_options(args, {"transactions", "as-of", "horizon-days", "members-out", "format"}, err);
    if (!options) return exit_usage;
    if (options->contains("help")) {
        out << segment_usage;
        return exit_ok;
    }
    auto config = segment_config(*options, err);
    if (!config) return exit_usage;
    SegmentRequest request{*config, std::nullopt, std::nullopt, false};
    if (const auto file = options->find("transactions"); file != options->end()) request.transactions = file->second;
    if (const auto file = options->find("members-out"); file != options->end()) request.members_out = file->second;
    const auto format = options->find("format");
    request.json = format != options->end() && format->second == "json";
    return request;
}

bool write_members_file(const SegmentRequest& request, const SegmentationResult& result,
                        const PurchaseHistory& history, std::ostream& err) {
    if (!request.members_out) return true;
    std::ofstream output(*request.members_out, std::ios::binary | std::ios::trunc);
    if (output) write_members_csv(result, history, request.config, output);
    if (!output.flush()) {
        err << "cannot write members to '" << *request.members_out << "'; check the directory and free space\n";
        return false;
    }
    return true;
}

int run_segment_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                        const HistorySource& source) {
    const auto parsed = parse_segment_request(args, out, err);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    const SegmentRequest& request = std::get<SegmentRequest>(parsed);
    const auto loaded = load_history(request, source, err);
    if (!loaded) return exit_bad_input;
    const SegmentationResult result = run_segmentation(loaded->history, request.config);
    if (!write_members_file(request, result, loaded->history, err)) return exit_bad_input;
    if (request.json) {
        write_json_report(result, loaded->history, request.config, out);
    } else {
        write_text_report(result, loaded->history, request.config, out);
    }
    return exit_ok;
}

int run_demo_data_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    const auto options = parse_options(args, {"members", "seed", "until"}, err);
    if (!options) return exit_usage;
    if (options->contains("help")) {
        out << demo_usage;
        return exit_ok;
    }
    DemoChainConfig config;
    if (const auto members = options->find("members");
        members != options->end() && !parse_number<std::size_t>(members->second, config.members, 1, 100'000'000)) {
        err << "--members must be a whole number from 1 to 100000000\n";
        return exit_usage;
    }
    if (const auto seed = options->find("seed");
        seed != options->end() &&
        !parse_number<std::uint64_t>(seed->second, config.seed, 0, std::numeric_limits<std::uint64_t>::max())) {
        err << "--seed must be a whole number\n";
        return exit_usage;
    }
    if (const auto until = options->find("until"); until != options->end()) {
        const auto day = parse_day(until->second);
        if (!day) {
            err << "--until '" << until->second << "' is not a date; write it as YYYY-MM-DD\n";
            return exit_usage;
        }
        config.first_day += *day - config.last_day;
        config.last_day = *day;
    }
    write_transactions_csv(generate_demo_chain(config), out);
    return out ? exit_ok : exit_bad_input;
}

}  // namespace loyalty::analytics
