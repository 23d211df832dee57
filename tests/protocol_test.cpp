#include "loyalty/protocol.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

using namespace loyalty::protocol;
using nlohmann::json;

namespace {

std::vector<Message> one_of_each() {
    return {
        Hello{"0042-03", protocol_version, "0.1.0 (abc123)", 17, std::nullopt},
        Hello{"0042-03", protocol_version, "0.2.0", 18, -1767225600},
        EventBatch{{Event{1, "purchase", {{"txn_id", "t-1"}, {"amount_cents", 1250}}, 1767225600},
                    Event{2, "redemption", {{"points", 300}}, 1767225660},
                    Event{5, "return", json::object(), -1}}},
        Ack{18446744073709551615ull},
        Downstream{
            {DownstreamItem{3, DownstreamKind::member, {{"member_id", "m-9"}, {"balance", 40}}},
             DownstreamItem{4, DownstreamKind::config, {{"rules_version", 2}}},
             DownstreamItem{9, DownstreamKind::offer, {{"offer_id", "o-1"}}}}},
        DownstreamAck{9},
        MemberQuery{7, MemberKey::phone, "+441632960000"},
        MemberReply{7, true, {{"member_id", "m-9"}, {"tier", "gold"}}},
        MemberReply{8, false, nullptr},
        Heartbeat{1767225600},
        Error{"till_id_mismatch", "Hello says 0042-03 but the certificate says 0042-04"},
    };
}

std::span<const std::uint8_t> bytes_of(const std::string& text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// A frame assembled by hand, so tests can get every header field wrong on purpose.
Bytes raw_frame(std::uint8_t version, std::uint8_t type, const std::string& body) {
    const auto length = static_cast<std::uint32_t>(body.size() + 2);
    Bytes frame(frame_header_size + body.size());
    frame[0] = static_cast<std::uint8_t>(length >> 24);
    frame[1] = static_cast<std::uint8_t>(length >> 16);
    frame[2] = static_cast<std::uint8_t>(length >> 8);
    frame[3] = static_cast<std::uint8_t>(length);
    frame[4] = version;
    frame[5] = type;
    std::copy(body.begin(), body.end(), frame.begin() + frame_header_size);
    return frame;
}

std::vector<Message> drain(Decoder& decoder) {
    std::vector<Message> messages;
    while (auto message = decoder.next()) messages.push_back(std::move(*message));
    return messages;
}

// Decodes one frame that must be refused, and returns the refusal.
DecodeError refusal_of(const Bytes& frame, std::uint32_t max_frame_size = default_max_frame_size) {
    Decoder decoder(max_frame_size);
    decoder.feed(frame);
    const auto messages = drain(decoder);
    REQUIRE(messages.empty());
    REQUIRE(decoder.error().has_value());
    return *decoder.error();
}

DecodeError refusal_of_body(MessageType type, const std::string& body) {
    return refusal_of(raw_frame(protocol_version, static_cast<std::uint8_t>(type), body));
}

}  // namespace

TEST_CASE("every message type survives encode and decode unchanged") {
    for (const Message& message : one_of_each()) {
        INFO(name_of(type_of(message)));
        Decoder decoder;
        decoder.feed(encode(message));
        const auto decoded = drain(decoder);
        CHECK_FALSE(decoder.error().has_value());
        REQUIRE(decoded.size() == 1);
        CHECK(decoded[0] == message);
        CHECK(decoder.buffered() == 0);
    }
}

TEST_CASE("a frame is a big-endian length, the version, the type and a JSON body") {
    const Bytes frame = encode(Heartbeat{12});
    const std::string body = R"({"sent_at":12})";
    REQUIRE(frame.size() == frame_header_size + body.size());
    CHECK(frame[0] == 0);
    CHECK(frame[1] == 0);
    CHECK(frame[2] == 0);
    CHECK(frame[3] == body.size() + 2);
    CHECK(frame[4] == protocol_version);
    CHECK(frame[5] == static_cast<std::uint8_t>(MessageType::heartbeat));
    CHECK(std::string(frame.begin() + frame_header_size, frame.end()) == body);
}

TEST_CASE("the message type follows the variant alternative") {
    CHECK(type_of(Hello{}) == MessageType::hello);
    CHECK(type_of(Error{}) == MessageType::error);
    CHECK(name_of(MessageType::downstream_ack) == "DownstreamAck");
    CHECK(name_of(static_cast<MessageType>(0)) == "unknown");
}

TEST_CASE("concatenated frames fed in arbitrary pieces decode in order") {
    const std::vector<Message> messages = one_of_each();
    Bytes stream;
    for (const Message& message : messages) {
        const Bytes frame = encode(message);
        stream.insert(stream.end(), frame.begin(), frame.end());
    }

    SECTION("all at once") {
        Decoder decoder;
        decoder.feed(stream);
        CHECK(drain(decoder) == messages);
    }
    SECTION("one byte at a time") {
        Decoder decoder;
        std::vector<Message> decoded;
        for (std::uint8_t byte : stream) {
            decoder.feed({&byte, 1});
            for (Message& message : drain(decoder)) decoded.push_back(std::move(message));
        }
        CHECK(decoded == messages);
        CHECK_FALSE(decoder.error().has_value());
    }
    SECTION("random pieces") {
        std::mt19937 random(20260101);
        for (int round = 0; round < 50; ++round) {
            Decoder decoder;
            std::vector<Message> decoded;
            std::size_t offset = 0;
            while (offset < stream.size()) {
                const std::size_t piece =
                    std::min<std::size_t>(stream.size() - offset, random() % 64 + 1);
                decoder.feed({stream.data() + offset, piece});
                offset += piece;
                for (Message& message : drain(decoder)) decoded.push_back(std::move(message));
            }
            decoder.finish();
            CHECK_FALSE(decoder.error().has_value());
            REQUIRE(decoded == messages);
        }
    }
}

TEST_CASE("an oversized frame is refused as soon as its length arrives") {
    Decoder decoder(100);
    const Bytes length_only{0, 0, 0, 101};
    decoder.feed(length_only);
    CHECK_FALSE(decoder.next().has_value());
    REQUIRE(decoder.error().has_value());
    CHECK(decoder.error()->code == DecodeErrc::frame_too_large);
    CHECK(decoder.error()->message.find("101") != std::string::npos);
}

TEST_CASE("a frame exactly at the maximum size is accepted") {
    const Bytes frame = encode(Heartbeat{1});
    Decoder decoder(static_cast<std::uint32_t>(frame.size() - length_prefix_size));
    decoder.feed(frame);
    CHECK(drain(decoder).size() == 1);
    CHECK_FALSE(decoder.error().has_value());
}

TEST_CASE("header faults are each reported with their own code") {
    SECTION("length below version plus type") {
        CHECK(refusal_of(Bytes{0, 0, 0, 1, 1}).code == DecodeErrc::frame_too_small);
    }
    SECTION("unsupported version, before the body arrives") {
        const DecodeError error = refusal_of(Bytes{0, 0, 0, 10, 2});
        CHECK(error.code == DecodeErrc::bad_version);
        CHECK(error.message.find("version 2") != std::string::npos);
    }
    SECTION("type zero and a type past the last one") {
        CHECK(refusal_of(raw_frame(protocol_version, 0, "{}")).code == DecodeErrc::unknown_type);
        CHECK(refusal_of(raw_frame(protocol_version, 10, "{}")).code == DecodeErrc::unknown_type);
    }
    SECTION("plaintext HTTP is not a frame") {
        const std::string http = "GET / HTTP/1.1\r\nHost: hq\r\n\r\n";
        Decoder decoder;
        decoder.feed(bytes_of(http));
        CHECK_FALSE(decoder.next().has_value());
        REQUIRE(decoder.error().has_value());
        CHECK(decoder.error()->code == DecodeErrc::frame_too_large);
    }
}

TEST_CASE("a body that is not a JSON object is bad_json") {
    CHECK(refusal_of_body(MessageType::ack, "{\"highest").code == DecodeErrc::bad_json);
    CHECK(refusal_of_body(MessageType::ack, "").code == DecodeErrc::bad_json);
    CHECK(refusal_of_body(MessageType::ack, "[1,2]").code == DecodeErrc::bad_json);
    CHECK(refusal_of_body(MessageType::error, "{\"code\":\"x\xff\",\"message\":\"\"}").code ==
          DecodeErrc::bad_json);
    CHECK(refusal_of_body(MessageType::ack, "{} {}").code == DecodeErrc::bad_json);
}

TEST_CASE("a body that breaks its schema is bad_message naming the field") {
    struct Case {
        MessageType type;
        std::string body;
        std::string names;
    };
    const std::vector<Case> cases{
        {MessageType::ack, "{}", "Ack.highest_contiguous_seq: missing"},
        {MessageType::ack, R"({"highest_contiguous_seq":-1})", "must be a non-negative integer"},
        {MessageType::ack, R"({"highest_contiguous_seq":1.5})", "highest_contiguous_seq"},
        {MessageType::hello,
         R"({"till_id":7,"protocol_version":1,"software_version":"x","downstream_version":0})",
         "Hello.till_id: must be a string"},
        {MessageType::hello,
         R"({"till_id":"a","protocol_version":4294967296,"software_version":"x","downstream_version":0})",
         "Hello.protocol_version: is out of range"},
        {MessageType::event_batch, R"({"events":{}})", "EventBatch.events: must be an array"},
        {MessageType::event_batch, R"({"events":[3]})", "EventBatch.events[0]: must be an object"},
        {MessageType::event_batch,
         R"({"events":[{"seq":2,"type":"p","payload":{},"created_at":0},{"seq":2,"type":"p","payload":{},"created_at":0}]})",
         "EventBatch.events[1].seq: must be greater"},
        {MessageType::event_batch,
         R"({"events":[{"seq":0,"type":"p","payload":{},"created_at":0}]})",
         "EventBatch.events[0].seq: must be at least 1"},
        {MessageType::event_batch,
         R"({"events":[{"seq":1,"type":"p","payload":[],"created_at":0}]})",
         "EventBatch.events[0].payload: must be an object"},
        {MessageType::event_batch,
         R"({"events":[{"seq":1,"type":"p","payload":{},"created_at":9223372036854775808}]})",
         "created_at: is out of range"},
        {MessageType::downstream, R"({"items":[{"version":1,"kind":"coupon","data":{}}]})",
         "Downstream.items[0].kind: has unknown value \"coupon\""},
        {MessageType::downstream,
         R"({"items":[{"version":5,"kind":"offer","data":{}},{"version":4,"kind":"offer","data":{}}]})",
         "Downstream.items[1].version: must be greater"},
        {MessageType::member_query, R"({"query_id":1,"key":"card","value":""})",
         "MemberQuery.value: must not be empty"},
        {MessageType::member_reply, R"({"query_id":1,"found":true,"member":null})",
         "MemberReply.member: must be an object"},
        {MessageType::member_reply, R"({"query_id":1,"found":"yes"})",
         "MemberReply.found: must be true or false"},
        {MessageType::heartbeat, R"({"sent_at":"now"})", "Heartbeat.sent_at: must be an integer"},
        {MessageType::hello,
         R"({"till_id":"a","protocol_version":1,"software_version":"x","downstream_version":0,"till_time":"now"})",
         "Hello.till_time: must be an integer"},
    };
    for (const Case& test : cases) {
        INFO(test.body);
        const DecodeError error = refusal_of_body(test.type, test.body);
        CHECK(error.code == DecodeErrc::bad_message);
        CHECK_THAT(error.message, Catch::Contains(test.names));
    }
}

TEST_CASE("unknown fields are ignored so that newer peers can add optional ones") {
    Decoder decoder;
    decoder.feed(raw_frame(protocol_version, static_cast<std::uint8_t>(MessageType::ack),
                           R"({"highest_contiguous_seq":4,"added_later":true})"));
    const auto decoded = drain(decoder);
    REQUIRE(decoded.size() == 1);
    CHECK(decoded[0] == Message(Ack{4}));
}

TEST_CASE("a Hello without till_time, from a till older than the field, still decodes") {
    Decoder decoder;
    decoder.feed(raw_frame(protocol_version, static_cast<std::uint8_t>(MessageType::hello),
                           R"({"till_id":"a","protocol_version":1,"software_version":"x","downstream_version":3})"));
    const auto decoded = drain(decoder);
    REQUIRE(decoded.size() == 1);
    CHECK_FALSE(std::get<Hello>(decoded[0]).till_time.has_value());
    const Bytes frame = encode(Hello{"a", 1, "x", 3, std::nullopt});
    const std::string sent(frame.begin() + frame_header_size, frame.end());
    CHECK(sent.find("till_time") == std::string::npos);
}

TEST_CASE("a stream ending inside a frame is truncated, one ending between frames is not") {
    const Bytes frame = encode(Ack{1});
    SECTION("inside the length prefix") {
        Decoder decoder;
        decoder.feed({frame.data(), 2});
        decoder.finish();
        REQUIRE(decoder.error().has_value());
        CHECK(decoder.error()->code == DecodeErrc::truncated);
    }
    SECTION("inside the body") {
        Decoder decoder;
        decoder.feed({frame.data(), frame.size() - 1});
        CHECK(drain(decoder).empty());
        decoder.finish();
        REQUIRE(decoder.error().has_value());
        CHECK(decoder.error()->code == DecodeErrc::truncated);
    }
    SECTION("between frames") {
        Decoder decoder;
        decoder.feed(frame);
        CHECK(drain(decoder).size() == 1);
        decoder.finish();
        CHECK_FALSE(decoder.error().has_value());
    }
}

TEST_CASE("after an error the decoder yields nothing more, even for good frames") {
    Decoder decoder;
    decoder.feed(raw_frame(protocol_version, 0, "{}"));
    decoder.feed(encode(Ack{1}));
    CHECK(drain(decoder).empty());
    decoder.feed(encode(Ack{2}));
    CHECK(drain(decoder).empty());
    REQUIRE(decoder.error().has_value());
    CHECK(decoder.error()->code == DecodeErrc::unknown_type);
}

TEST_CASE("error codes have stable names") {
    CHECK(name_of(DecodeErrc::frame_too_large) == "frame_too_large");
    CHECK(name_of(DecodeErrc::truncated) == "truncated");
}

namespace {

// The events of an EventBatch frame with this body, decoded as head office decodes them.
std::vector<Event> events_of(const std::string& body) {
    auto decoded = decode(Frame{MessageType::event_batch, body});
    REQUIRE(std::holds_alternative<Message>(decoded));
    return std::get<EventBatch>(std::get<Message>(decoded)).events;
}

}  // namespace

TEST_CASE("a batch's payloads keep the frame's text exactly when it is what dump() writes") {
    const EventBatch batch = std::get<EventBatch>(one_of_each()[2]);
    const Bytes frame = encode(batch);
    for (const Event& event : events_of(std::string(frame.begin() + frame_header_size, frame.end()))) {
        REQUIRE(event.payload_text.has_value());
        CHECK(*event.payload_text == event.payload.dump());
    }
    const std::vector<Event> by_hand =
        events_of(R"({"events":[{"created_at":0,"payload":{"a":[1,"x\n\u0001"],"b":{}},"seq":1,"type":"p"}]})");
    CHECK(by_hand[0].payload_text == R"({"a":[1,"x\n\u0001"],"b":{}})");
}

TEST_CASE("a payload sent in any other form is written again as dump() writes it") {
    // Each body decodes; none carries its payload as dump() writes it, or the body around it is
    // not in that form (then no payload's place in it is trusted).
    const std::string event_tail = R"(,"seq":1,"type":"p"}]})";
    const std::vector<std::string> bodies{
        R"({"events":[{"created_at":0,"payload":{"b":1,"a":2})" + event_tail,
        R"({"events":[{"created_at":0,"payload":{"a":1,"a":2})" + event_tail,
        R"({"events":[{"created_at":0,"payload":{"a": 1})" + event_tail,
        R"({"events":[{"created_at":0,"payload":{"a":1.0,"b":1e2,"c":-0})" + event_tail,
        R"({"events":[{"created_at":0,"payload":{"a":"\u00e9\/\u0041"})" + event_tail,
        R"({"events":[{"created_at":0,"payload":{"\u0061":1})" + event_tail,
        R"({"events":[{"created_at":0,"payload":{"a":1},"payload":{"a":1})" + event_tail,
        R"({"events": [{"created_at":0,"payload":{"a":1})" + event_tail,
        R"({"events":[{"payload":{"a":1},"created_at":0,"seq":1,"type":"p"}]})",
        R"({"z":0,"events":[{"created_at":0,"payload":{"a":1})" + event_tail,
    };
    for (const std::string& body : bodies) {
        INFO(body);
        const std::vector<Event> events = events_of(body);
        REQUIRE(events.size() == 1);
        CHECK_FALSE(events[0].payload_text.has_value());
        CHECK(payload_text(events[0]) == events[0].payload.dump());
    }
}

TEST_CASE("a frame can be taken whole and decoded later, with the same outcome as next()") {
    Decoder decoder;
    const Bytes bad = raw_frame(protocol_version, static_cast<std::uint8_t>(MessageType::ack), "[1]");
    Bytes stream = encode(Heartbeat{5});
    stream.insert(stream.end(), bad.begin(), bad.end());
    decoder.feed(stream);
    const auto heartbeat = decoder.next_frame();
    REQUIRE(heartbeat);
    CHECK(heartbeat->type == MessageType::heartbeat);
    CHECK(std::get<Message>(decode(*heartbeat)) == Message(Heartbeat{5}));
    // A body that does not decode is the caller's to refuse; the decoder has only cut the frame.
    const auto refused = decoder.next_frame();
    REQUIRE(refused);
    CHECK(std::get<DecodeError>(decode(*refused)).code == DecodeErrc::bad_json);
    CHECK_FALSE(decoder.error());
    const Frame foreign{static_cast<MessageType>(42), "{}"};
    CHECK(std::get<DecodeError>(decode(foreign)).code == DecodeErrc::unknown_type);
}
