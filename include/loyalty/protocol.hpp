// The sync wire protocol between a till and head office: message types, frame encoding and
// an incremental frame decoder. No sockets here; docs/PROTOCOL.md describes the bytes.
//
// Frame: 4-byte big-endian length L, then L bytes: 1 byte protocol version, 1 byte message
// type, L - 2 bytes of UTF-8 JSON object (the message body). L never exceeds the receiver's
// maximum frame size, which is checked as soon as the length arrives.
//
// encode() is pure. A Decoder owns its buffer, is not thread-safe (one per connection), and
// never throws on hostile input: every malformed input ends in a DecodeError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace loyalty::protocol {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::uint8_t protocol_version = 1;
inline constexpr std::size_t length_prefix_size = 4;
inline constexpr std::size_t frame_header_size = length_prefix_size + 2;  // + version + type
inline constexpr std::uint32_t default_max_frame_size = 1u << 20;         // counts the L bytes

enum class MessageType : std::uint8_t {
    hello = 1,
    event_batch = 2,
    ack = 3,
    downstream = 4,
    downstream_ack = 5,
    member_query = 6,
    member_reply = 7,
    heartbeat = 8,
    error = 9,
};

// Till -> HQ, first message on every connection. HQ checks till_id against the certificate.
struct Hello {
    std::string till_id;  // "STORE-TILL"
    std::uint32_t protocol_version = protocol::protocol_version;
    std::string software_version;
    std::uint64_t downstream_version = 0;  // highest downstream version the till has applied
    // The till's clock when it sent Hello (seconds since 1970 UTC), so HQ can flag a skewed
    // clock at once. Optional: tills older than this field do not send it.
    std::optional<std::int64_t> till_time;

    bool operator==(const Hello&) const = default;
};

// One outbox event. seq is the till's own sequence number (1, 2, 3 ...), never wall time.
struct Event {
    std::uint64_t seq = 0;
    std::string type;  // e.g. "purchase", "redemption"
    nlohmann::json payload = nlohmann::json::object();
    std::int64_t created_at = 0;  // till clock, seconds since 1970 UTC
    // Set by the decoder when the frame's text of the payload is exactly payload.dump(), so a
    // receiver storing that text need not write it again; empty otherwise (and whoever changes
    // `payload` must empty it). Never sent: encode() writes `payload`. Not compared: it is a
    // form of the payload, not more of the event. Initialised so aggregates may leave it out.
    std::optional<std::string> payload_text = std::nullopt;

    bool operator==(const Event& other) const {
        return seq == other.seq && type == other.type && payload == other.payload &&
               created_at == other.created_at;
    }
};

// The payload exactly as payload.dump() writes it: the frame's own text where it was that.
std::string payload_text(const Event& event);

// Till -> HQ. Events in strictly increasing seq order (gaps allowed after a partial ack).
struct EventBatch {
    std::vector<Event> events;

    bool operator==(const EventBatch&) const = default;
};

// HQ -> till: every event with seq <= highest_contiguous_seq is stored at HQ.
struct Ack {
    std::uint64_t highest_contiguous_seq = 0;

    bool operator==(const Ack&) const = default;
};

enum class DownstreamKind { member, config, offer };

struct DownstreamItem {
    std::uint64_t version = 0;  // HQ-wide, strictly increasing within a till's stream
    DownstreamKind kind = DownstreamKind::member;
    nlohmann::json data = nlohmann::json::object();

    bool operator==(const DownstreamItem&) const = default;
};

// HQ -> till: changes made elsewhere, in increasing version order.
struct Downstream {
    std::vector<DownstreamItem> items;

    bool operator==(const Downstream&) const = default;
};

// Till -> HQ: every item with version <= applied_version is applied on the till.
struct DownstreamAck {
    std::uint64_t applied_version = 0;

    bool operator==(const DownstreamAck&) const = default;
};

enum class MemberKey { card, phone, member_id };

// Till -> HQ: who is this? Sent during lookup of a member the till has never seen.
struct MemberQuery {
    std::uint64_t query_id = 0;  // echoed in the reply; chosen by the till
    MemberKey key = MemberKey::card;
    std::string value;

    bool operator==(const MemberQuery&) const = default;
};

// HQ -> till. member is a JSON object when found, null otherwise.
struct MemberReply {
    std::uint64_t query_id = 0;
    bool found = false;
    nlohmann::json member;

    bool operator==(const MemberReply&) const = default;
};

// Either direction; any message resets the peer's idle deadline, this one carries nothing else
// than the sender's clock so HQ can flag a till whose clock is off.
struct Heartbeat {
    std::int64_t sent_at = 0;  // seconds since 1970 UTC

    bool operator==(const Heartbeat&) const = default;
};

// Either direction, usually just before closing. code is stable ("unauthorized",
// "till_id_mismatch", "revoked", "bad_frame", "unsupported_version", "internal").
struct Error {
    std::string code;
    std::string message;

    bool operator==(const Error&) const = default;
};

// Alternative i has MessageType i + 1.
using Message = std::variant<Hello, EventBatch, Ack, Downstream, DownstreamAck, MemberQuery,
                             MemberReply, Heartbeat, Error>;

MessageType type_of(const Message& message);
std::string_view name_of(MessageType type);

// The whole frame, length prefix included. Throws nlohmann::json::type_error if a string or
// payload holds invalid UTF-8, and std::length_error past 4 GiB: both are caller bugs. A frame
// larger than the peer's maximum frame size is refused by the peer, so batch accordingly.
Bytes encode(const Message& message);

enum class DecodeErrc {
    frame_too_large,  // L > maximum frame size
    frame_too_small,  // L < 2: no room for version and type
    bad_version,      // protocol version byte not supported
    unknown_type,     // message type byte not in MessageType
    bad_json,         // body is not a JSON object
    bad_message,      // JSON does not match the message's schema (field named in message)
    truncated,        // the stream ended inside a frame
};

struct DecodeError {
    DecodeErrc code;
    std::string message;  // names what was wrong, e.g. "EventBatch.events[2].seq: missing"
};

std::string_view name_of(DecodeErrc code);

// One whole frame whose body is not parsed yet, so a receiver can choose when to spend the
// parsing's time and memory (head office parses a batch only when it can soon store it).
struct Frame {
    MessageType type = MessageType::hello;
    std::string body;  // the JSON text
};

// Parses a frame's body into its message: bad_json or bad_message if it is not one.
std::variant<Message, DecodeError> decode(const Frame& frame);

// Feed bytes as they arrive, take messages out while next() has one. The first error is final
// (a byte stream cannot be resynchronised); the connection should answer Error and close.
class Decoder {
  public:
    explicit Decoder(std::uint32_t max_frame_size = default_max_frame_size);

    void feed(std::span<const std::uint8_t> bytes);
    // The next complete message; nullopt if more bytes are needed or the decoder has failed.
    std::optional<Message> next();
    // The next complete frame, its header checked and its body not parsed (decode() does that,
    // and its error is then the caller's to act on); nullopt as for next().
    std::optional<Frame> next_frame();
    // Call at end of stream, once next() has returned nullopt: a partial frame left in the
    // buffer becomes a truncated error.
    void finish();

    const std::optional<DecodeError>& error() const { return error_; }
    std::size_t buffered() const { return buffer_.size() - consumed_; }

  private:
    std::optional<std::uint32_t> check_header();
    void fail(DecodeErrc code, std::string message);

    std::uint32_t max_frame_size_;
    Bytes buffer_;
    std::size_t consumed_ = 0;  // bytes of buffer_ already decoded; dropped on the next feed
    std::optional<DecodeError> error_;
};

}  // namespace loyalty::protocol
