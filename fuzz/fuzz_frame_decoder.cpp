// Fuzzes the sync frame decoder (include/loyalty/protocol.hpp) with hostile byte streams.
//
// The first input byte picks how the rest is cut into feed() calls, so frames split at every
// possible boundary are tried. What must hold: the decoder never crashes or throws, never
// buffers more than one maximum frame, its first error is final, and every message it accepts
// encodes back to a frame that decodes to the same message, and a batch's payloads keep their
// frame text only where it is what dump() writes.
#include "loyalty/protocol.hpp"

#include <cstdint>
#include <cstdlib>
#include <span>

using namespace loyalty::protocol;

namespace {

constexpr std::uint32_t max_frame_size = 64 * 1024;

void check(bool condition) {
    if (!condition) std::abort();
}

// A payload's kept frame text must be exactly what dump() writes: head office stores it as that.
void check_payload_texts(const Message& message) {
    if (const auto* batch = std::get_if<EventBatch>(&message)) {
        for (const Event& event : batch->events)
            check(!event.payload_text || *event.payload_text == event.payload.dump());
    }
}

void check_round_trip(const Message& message) {
    const Bytes frame = encode(message);
    Decoder decoder(static_cast<std::uint32_t>(frame.size()));
    decoder.feed(frame);
    const auto again = decoder.next();
    check(again.has_value() && *again == message);
    check(!decoder.next() && !decoder.error() && decoder.buffered() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t chunk = 1 + data[0] % 64;  // 1..64 bytes per feed
    const std::span<const std::uint8_t> stream(data + 1, size - 1);
    Decoder decoder(max_frame_size);
    bool failed = false;
    for (std::size_t offset = 0; offset < stream.size(); offset += chunk) {
        decoder.feed(stream.subspan(offset, std::min(chunk, stream.size() - offset)));
        while (const auto message = decoder.next()) {
            check(!failed);
            check_payload_texts(*message);
            check_round_trip(*message);
        }
        if (decoder.error()) failed = true;
        check(decoder.buffered() <= max_frame_size + length_prefix_size + chunk);
    }
    decoder.finish();
    check(!decoder.next());
    check(!failed || decoder.error().has_value());
    if (decoder.error()) check(!decoder.error()->message.empty());
    return 0;
}
