#include "loyalty/protocol.hpp"

#include "canonical_json.hpp"

#include <array>
#include <limits>
#include <span>
#include <stdexcept>
#include <utility>

namespace loyalty::protocol {
namespace {

using nlohmann::json;

// One table per enum serves both directions, so a name cannot drift between them.
template <class Enum, std::size_t N>
using NameTable = std::array<std::pair<std::string_view, Enum>, N>;

constexpr NameTable<DownstreamKind, 3> downstream_kind_names{{
    {"member", DownstreamKind::member},
    {"config", DownstreamKind::config},
    {"offer", DownstreamKind::offer},
}};

constexpr NameTable<MemberKey, 3> member_key_names{{
    {"card", MemberKey::card},
    {"phone", MemberKey::phone},
    {"member_id", MemberKey::member_id},
}};

constexpr std::array<std::string_view, std::variant_size_v<Message>> message_names{
    "Hello",       "EventBatch",  "Ack",       "Downstream", "DownstreamAck",
    "MemberQuery", "MemberReply", "Heartbeat", "Error",
};

template <class Enum, std::size_t N>
std::string_view name_in(const NameTable<Enum, N>& table, Enum value) {
    for (const auto& [name, entry] : table) {
        if (entry == value) return name;
    }
    throw std::logic_error("enum value missing from its name table");
}

// Reads the fields of one JSON object. The first problem is recorded in a sink shared with
// nested readers, and later reads return defaults, so schema code reads straight through.
// Objects are moved out of the parsed body, which is read once: a batch is mostly its events'
// payloads, and copying them was a tenth of head office's ingest (docs/BENCHMARKS.md).
class Reader {
  public:
    Reader(json& object, std::string path, std::optional<std::string>& error)
        : object_(object), path_(std::move(path)), error_(error) {}

    std::string string(const char* key) {
        const json* field = find(key, &json::is_string, "a string");
        return field ? field->get<std::string>() : std::string{};
    }

    std::uint64_t unsigned_number(const char* key) {
        const json* field = find(key, &json::is_number_unsigned, "a non-negative integer");
        return field ? field->get<std::uint64_t>() : 0;
    }

    std::int64_t signed_number(const char* key) {
        const json* field = find(key, &json::is_number_integer, "an integer");
        if (!field) return 0;
        if (field->is_number_unsigned() &&
            field->get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max()) {
            fail(key, "is out of range");
            return 0;
        }
        return field->get<std::int64_t>();
    }

    // For optional fields: absent (or null) means not sent.
    bool has(const char* key) const {
        const auto it = object_.find(key);
        return it != object_.end() && !it->is_null();
    }

    bool boolean(const char* key) {
        const json* field = find(key, &json::is_boolean, "true or false");
        return field && field->get<bool>();
    }

    json object(const char* key) {
        json* field = find(key, &json::is_object, "an object");
        return field ? std::move(*field) : json::object();
    }

    std::span<json> array(const char* key) {
        json* field = find(key, &json::is_array, "an array");
        if (!field) return {};
        return field->get_ref<json::array_t&>();
    }

    template <class Enum, std::size_t N>
    Enum choice(const char* key, const NameTable<Enum, N>& table) {
        const std::string name = string(key);
        for (const auto& [entry_name, value] : table) {
            if (entry_name == name) return value;
        }
        if (!failed()) fail(key, "has unknown value \"" + name + "\"");
        return table[0].second;
    }

    // A reader for element `index` of array `key`, which must be an object.
    Reader element(const char* key, std::size_t index, json& value) {
        std::string path = path_ + "." + key + "[" + std::to_string(index) + "]";
        if (!value.is_object()) {
            if (!failed()) error_ = path + ": must be an object";
            value = json::object();  // read as empty: every field is then missing
        }
        return Reader(value, std::move(path), error_);
    }

    void fail(const char* key, const std::string& what) {
        if (!failed()) error_ = path_ + "." + key + ": " + what;
    }

    bool failed() const { return error_.has_value(); }

  private:
    json* find(const char* key, bool (json::*is_kind)() const noexcept, const char* expected) {
        const auto it = object_.find(key);
        if (it == object_.end()) {
            fail(key, "missing");
            return nullptr;
        }
        if (!((*it).*is_kind)()) {
            fail(key, std::string("must be ") + expected);
            return nullptr;
        }
        return &*it;
    }

    json& object_;
    std::string path_;
    std::optional<std::string>& error_;
};

// --- one body() and one read() per message type ---

json body(const Hello& hello) {
    json fields{{"till_id", hello.till_id},
                {"protocol_version", hello.protocol_version},
                {"software_version", hello.software_version},
                {"downstream_version", hello.downstream_version}};
    if (hello.till_time) fields["till_time"] = *hello.till_time;
    return fields;
}

void read(Reader& reader, Hello& hello) {
    hello.till_id = reader.string("till_id");
    const std::uint64_t version = reader.unsigned_number("protocol_version");
    if (version > std::numeric_limits<std::uint32_t>::max()) {
        reader.fail("protocol_version", "is out of range");
    }
    hello.protocol_version = static_cast<std::uint32_t>(version);
    hello.software_version = reader.string("software_version");
    hello.downstream_version = reader.unsigned_number("downstream_version");
    if (reader.has("till_time")) hello.till_time = reader.signed_number("till_time");
}

json body(const EventBatch& batch) {
    json events = json::array();
    for (const Event& event : batch.events) {
        events.push_back({{"seq", event.seq},
                          {"type", event.type},
                          {"payload", event.payload},
                          {"created_at", event.created_at}});
    }
    return {{"events", std::move(events)}};
}

void read(Reader& reader, EventBatch& batch) {
    const std::span<json> events = reader.array("events");
    for (std::size_t i = 0; i < events.size() && !reader.failed(); ++i) {
        Reader element = reader.element("events", i, events[i]);
        Event event{element.unsigned_number("seq"), element.string("type"),
                    element.object("payload"), element.signed_number("created_at")};
        // The receiver's exactly-once bookkeeping relies on batches being in outbox order.
        if (!batch.events.empty() && event.seq <= batch.events.back().seq) {
            element.fail("seq", "must be greater than the previous event's seq");
        } else if (event.seq == 0) {
            element.fail("seq", "must be at least 1");
        }
        batch.events.push_back(std::move(event));
    }
}

json body(const Ack& ack) { return {{"highest_contiguous_seq", ack.highest_contiguous_seq}}; }

void read(Reader& reader, Ack& ack) {
    ack.highest_contiguous_seq = reader.unsigned_number("highest_contiguous_seq");
}

json body(const Downstream& downstream) {
    json items = json::array();
    for (const DownstreamItem& item : downstream.items) {
        items.push_back({{"version", item.version},
                         {"kind", name_in(downstream_kind_names, item.kind)},
                         {"data", item.data}});
    }
    return {{"items", std::move(items)}};
}

void read(Reader& reader, Downstream& downstream) {
    const std::span<json> items = reader.array("items");
    for (std::size_t i = 0; i < items.size() && !reader.failed(); ++i) {
        Reader element = reader.element("items", i, items[i]);
        DownstreamItem item{element.unsigned_number("version"),
                            element.choice("kind", downstream_kind_names), element.object("data")};
        // Tills apply each version once and in order; a stream out of order is a HQ bug.
        if (!downstream.items.empty() && item.version <= downstream.items.back().version) {
            element.fail("version", "must be greater than the previous item's version");
        }
        downstream.items.push_back(std::move(item));
    }
}

json body(const DownstreamAck& ack) { return {{"applied_version", ack.applied_version}}; }

void read(Reader& reader, DownstreamAck& ack) {
    ack.applied_version = reader.unsigned_number("applied_version");
}

json body(const MemberQuery& query) {
    return {{"query_id", query.query_id},
            {"key", name_in(member_key_names, query.key)},
            {"value", query.value}};
}

void read(Reader& reader, MemberQuery& query) {
    query.query_id = reader.unsigned_number("query_id");
    query.key = reader.choice("key", member_key_names);
    query.value = reader.string("value");
    if (query.value.empty()) reader.fail("value", "must not be empty");
}

json body(const MemberReply& reply) {
    return {{"query_id", reply.query_id},
            {"found", reply.found},
            {"member", reply.found ? reply.member : json(nullptr)}};
}

void read(Reader& reader, MemberReply& reply) {
    reply.query_id = reader.unsigned_number("query_id");
    reply.found = reader.boolean("found");
    if (reply.found) reply.member = reader.object("member");
}

json body(const Heartbeat& heartbeat) { return {{"sent_at", heartbeat.sent_at}}; }

void read(Reader& reader, Heartbeat& heartbeat) {
    heartbeat.sent_at = reader.signed_number("sent_at");
}

json body(const Error& error) { return {{"code", error.code}, {"message", error.message}}; }

void read(Reader& reader, Error& error) {
    error.code = reader.string("code");
    error.message = reader.string("message");
}

// --- decoding a whole body ---

using BodyResult = std::variant<Message, DecodeError>;

template <class T>
BodyResult read_message(json& object, std::string_view name) {
    std::optional<std::string> error;
    Reader reader(object, std::string(name), error);
    T message;
    read(reader, message);
    if (error) return DecodeError{DecodeErrc::bad_message, std::move(*error)};
    return Message(std::move(message));
}

using BodyReader = BodyResult (*)(json&, std::string_view);

template <std::size_t... I>
constexpr std::array<BodyReader, sizeof...(I)> make_body_readers(std::index_sequence<I...>) {
    return {&read_message<std::variant_alternative_t<I, Message>>...};
}

constexpr auto body_readers =
    make_body_readers(std::make_index_sequence<std::variant_size_v<Message>>{});

// The text of each event's payload in an EventBatch body, in order, when the whole body is
// canonical - as every till writes it, encode() being one dump() of the message: each is then
// exactly what dump() writes for that payload. Empty if the body is not canonical.
std::vector<std::string_view> canonical_payloads(std::string_view body) {
    std::vector<std::string_view> payloads;
    CanonicalWalk walk(body);
    const auto payload = [&] {
        const std::size_t start = walk.position();
        if (!walk.value()) return false;
        payloads.push_back(body.substr(start, walk.position() - start));
        return true;
    };
    const auto event = [&] {
        return walk.object(
            [&](std::string_view field) { return field == "payload" ? payload() : walk.value(); });
    };
    const bool canonical = walk.object([&](std::string_view key) {
        return key == "events" ? walk.array(event) : walk.value();
    });
    if (!canonical || !walk.at_end()) payloads.clear();
    return payloads;
}

// Keeps each payload's text when it is the form head office stores (see Event::payload_text).
void keep_payload_texts(EventBatch& batch, std::string_view body) {
    const std::vector<std::string_view> texts = canonical_payloads(body);
    // A body that decoded has one payload per event; the count guards the pairing all the same.
    if (texts.size() != batch.events.size()) return;
    for (std::size_t i = 0; i < texts.size(); ++i) batch.events[i].payload_text.emplace(texts[i]);
}

BodyResult decode_body(MessageType type, std::string_view text) {
    const std::string_view name = message_names[static_cast<std::size_t>(type) - 1];
    json object;
    try {
        object = json::parse(text);
    } catch (const json::parse_error& parse_error) {
        // nlohmann's text carries the byte offset of the fault, which is worth keeping.
        return DecodeError{DecodeErrc::bad_json,
                           std::string(name) + " body is not valid JSON: " + parse_error.what()};
    } catch (const json::out_of_range& overflow) {
        // A number no double holds (1e999): nlohmann throws this, not parse_error.
        return DecodeError{DecodeErrc::bad_json,
                           std::string(name) + " body is not valid JSON: " + overflow.what()};
    }
    if (!object.is_object()) {
        return DecodeError{DecodeErrc::bad_json, std::string(name) + " body is not a JSON object"};
    }
    BodyResult result = body_readers[static_cast<std::size_t>(type) - 1](object, name);
    if (auto* message = std::get_if<Message>(&result)) {
        if (auto* batch = std::get_if<EventBatch>(message)) keep_payload_texts(*batch, text);
    }
    return result;
}

bool known_type(std::uint8_t type) { return type >= 1 && type <= message_names.size(); }

std::string unknown_type_message(std::uint8_t type) {
    return "message type " + std::to_string(type) + " is unknown";
}

std::uint32_t read_big_endian(const std::uint8_t* bytes) {
    return std::uint32_t{bytes[0]} << 24 | std::uint32_t{bytes[1]} << 16 |
           std::uint32_t{bytes[2]} << 8 | std::uint32_t{bytes[3]};
}

void append_big_endian(Bytes& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<std::uint8_t>(value >> shift));
    }
}

}  // namespace

MessageType type_of(const Message& message) {
    return static_cast<MessageType>(message.index() + 1);
}

std::string_view name_of(MessageType type) {
    const auto value = static_cast<std::uint8_t>(type);
    return known_type(value) ? message_names[value - 1] : "unknown";
}

std::string_view name_of(DecodeErrc code) {
    switch (code) {
        case DecodeErrc::frame_too_large:
            return "frame_too_large";
        case DecodeErrc::frame_too_small:
            return "frame_too_small";
        case DecodeErrc::bad_version:
            return "bad_version";
        case DecodeErrc::unknown_type:
            return "unknown_type";
        case DecodeErrc::bad_json:
            return "bad_json";
        case DecodeErrc::bad_message:
            return "bad_message";
        case DecodeErrc::truncated:
            return "truncated";
    }
    return "unknown";
}

std::variant<Message, DecodeError> decode(const Frame& frame) {
    const auto type = static_cast<std::uint8_t>(frame.type);
    if (!known_type(type)) return DecodeError{DecodeErrc::unknown_type, unknown_type_message(type)};
    return decode_body(frame.type, frame.body);
}

std::string payload_text(const Event& event) {
    return event.payload_text ? *event.payload_text : event.payload.dump();
}

Bytes encode(const Message& message) {
    const std::string text =
        std::visit([](const auto& alternative) { return body(alternative).dump(); }, message);
    if (text.size() > std::numeric_limits<std::uint32_t>::max() - 2) {
        throw std::length_error("sync message body over 4 GiB cannot be framed");
    }
    Bytes frame;
    frame.reserve(frame_header_size + text.size());
    append_big_endian(frame, static_cast<std::uint32_t>(text.size() + 2));
    frame.push_back(protocol_version);
    frame.push_back(static_cast<std::uint8_t>(type_of(message)));
    frame.insert(frame.end(), text.begin(), text.end());
    return frame;
}

Decoder::Decoder(std::uint32_t max_frame_size) : max_frame_size_(max_frame_size) {}

void Decoder::feed(std::span<const std::uint8_t> bytes) {
    if (error_) return;
    // Dropping decoded bytes only here keeps next() cheap and the buffer bounded by one frame
    // plus one feed.
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

// Checks each header field as soon as its bytes are in, so an oversized or foreign frame is
// refused before its body is awaited. Returns L once the whole header is in and valid.
std::optional<std::uint32_t> Decoder::check_header() {
    const std::size_t available = buffered();
    const std::uint8_t* header = buffer_.data() + consumed_;
    if (available < length_prefix_size) return std::nullopt;
    const std::uint32_t length = read_big_endian(header);
    if (length > max_frame_size_) {
        fail(DecodeErrc::frame_too_large, "frame of " + std::to_string(length) +
                                              " bytes exceeds the maximum of " +
                                              std::to_string(max_frame_size_));
        return std::nullopt;
    }
    if (length < 2) {
        fail(DecodeErrc::frame_too_small,
             "frame length " + std::to_string(length) + " leaves no room for version and type");
        return std::nullopt;
    }
    if (available > 4 && header[4] != protocol_version) {
        fail(DecodeErrc::bad_version, "protocol version " + std::to_string(header[4]) +
                                          " is not supported (this side speaks " +
                                          std::to_string(protocol_version) + ")");
        return std::nullopt;
    }
    if (available > 5 && !known_type(header[5])) {
        fail(DecodeErrc::unknown_type, unknown_type_message(header[5]));
        return std::nullopt;
    }
    if (available < frame_header_size) return std::nullopt;
    return length;
}

std::optional<Message> Decoder::next() {
    std::optional<Frame> frame = next_frame();
    if (!frame) return std::nullopt;
    BodyResult result = decode(*frame);
    if (auto* decode_error = std::get_if<DecodeError>(&result)) {
        error_ = std::move(*decode_error);
        return std::nullopt;
    }
    return std::get<Message>(std::move(result));
}

std::optional<Frame> Decoder::next_frame() {
    if (error_) return std::nullopt;
    const std::optional<std::uint32_t> length = check_header();
    if (!length || buffered() < length_prefix_size + *length) return std::nullopt;
    const auto* frame = reinterpret_cast<const char*>(buffer_.data() + consumed_);
    consumed_ += length_prefix_size + *length;
    return Frame{static_cast<MessageType>(static_cast<std::uint8_t>(frame[5])),
                 std::string(frame + frame_header_size, *length - 2u)};
}

void Decoder::finish() {
    if (error_ || buffered() == 0) return;
    fail(DecodeErrc::truncated,
         "stream ended inside a frame with " + std::to_string(buffered()) + " bytes pending");
}

void Decoder::fail(DecodeErrc code, std::string message) {
    error_ = DecodeError{code, std::move(message)};
}

}  // namespace loyalty::protocol
