// Replays the fuzzers' seed corpora (fuzz/corpus/<target>/) and every input a fuzzer ever
// crashed on (fuzz/regressions/<target>/) through the same harnesses, compiled here with the
// project's compiler and sanitizers instead of libFuzzer. A harness aborts on a broken
// property, so a regression fails this program.
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

// The harnesses' LLVMFuzzerTestOneInput, renamed per target by tests/CMakeLists.txt.
extern "C" int replay_fuzz_frame_decoder(const std::uint8_t* data, std::size_t size);
extern "C" int replay_fuzz_rules(const std::uint8_t* data, std::size_t size);
extern "C" int replay_fuzz_till_config(const std::uint8_t* data, std::size_t size);
extern "C" int replay_fuzz_till_requests(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;
using Harness = int (*)(const std::uint8_t*, std::size_t);

int replay(const std::string& target, Harness harness) {
    int inputs = 0;
    for (const char* kind : {"corpus", "regressions"}) {
        const fs::path directory = fs::path(LOYALTY_SOURCE_DIR) / "fuzz" / kind / target;
        if (!fs::is_directory(directory)) continue;
        for (const auto& entry : fs::directory_iterator(directory)) {
            std::ifstream in(entry.path(), std::ios::binary);
            const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
            INFO(entry.path());
            CHECK(harness(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) == 0);
            ++inputs;
        }
    }
    return inputs;
}

}  // namespace

TEST_CASE("fuzz seeds and found crash inputs replay cleanly", "[reliability][fuzz]") {
    CHECK(replay("fuzz_frame_decoder", replay_fuzz_frame_decoder) > 0);
    CHECK(replay("fuzz_rules", replay_fuzz_rules) > 0);
    CHECK(replay("fuzz_till_config", replay_fuzz_till_config) > 0);
    CHECK(replay("fuzz_till_requests", replay_fuzz_till_requests) > 0);
}
