// Parsing of the POS's purchase and return requests; every error names its field.
#include "loyalty/purchase.hpp"

#include "loyalty/json_reader.hpp"
#include "loyalty/identifiers.hpp"

namespace loyalty {

namespace {

std::string read_operation_id(JsonReader& reader, std::string_view key) {
    std::string id = reader.text(key, max_operation_id_length);
    if (reader.ok() && id.empty()) reader.fail(key, "must not be empty");
    return id;
}

}  // namespace

Result<MemberRef> parse_member_ref(const nlohmann::json& body) {
    JsonReader reader(body, "");
    MemberRef reference;
    reference.member_id = reader.text("member_id", max_operation_id_length, "");
    reference.card = reader.text("card", 32, "");
    reference.phone = reader.text("phone", 32, "");
    if (!reader.ok()) return reader.error();
    const int given = !reference.member_id.empty() + !reference.card.empty() + !reference.phone.empty();
    if (given == 0) return invalid("member_id", "name the member by member_id, card or phone");
    if (given > 1) return invalid("member_id", "give only one of member_id, card and phone");
    if (!reference.card.empty()) {
        auto card = normalise_card(reference.card);
        if (!card) return card.error();
        reference.card = *card;
    }
    if (!reference.phone.empty()) {
        auto phone = normalise_phone(reference.phone);
        if (!phone) return phone.error();
        reference.phone = *phone;
    }
    return reference;
}

namespace {

enum class Purpose { purchase, quote };

Result<PurchaseRequest> parse_basket_request(const nlohmann::json& body, Purpose purpose) {
    JsonReader reader(body, "");
    PurchaseRequest request;
    if (purpose == Purpose::purchase) request.txn_id = read_operation_id(reader, "txn_id");
    request.redeem_points = reader.integer("redeem_points", 0, 1'000'000'000'000, 0);
    const nlohmann::json* lines = reader.array("lines");
    if (reader.ok() && !lines) reader.fail("lines", "is required");
    if (!reader.ok()) return reader.error();
    const bool names_member = body.contains("member_id") || body.contains("card") || body.contains("phone");
    if (purpose == Purpose::purchase || names_member) {
        auto member = parse_member_ref(body);
        if (!member) return member.error();
        request.member = std::move(member).value();
    } else if (request.redeem_points > 0) {
        return invalid("member_id", "redeeming points needs a member");
    }
    auto parsed = parse_basket_lines(*lines);
    if (!parsed) return parsed.error();
    request.lines = std::move(parsed).value();
    return request;
}

}  // namespace

Result<PurchaseRequest> parse_purchase_request(const nlohmann::json& body) {
    return parse_basket_request(body, Purpose::purchase);
}

Result<PurchaseRequest> parse_quote_request(const nlohmann::json& body) {
    return parse_basket_request(body, Purpose::quote);
}

Result<ReturnRequest> parse_return_request(const nlohmann::json& body) {
    JsonReader reader(body, "");
    ReturnRequest request;
    request.return_id = read_operation_id(reader, "return_id");
    request.original_txn_id = read_operation_id(reader, "original_txn_id");
    const nlohmann::json* lines = reader.array("lines");
    if (!reader.ok()) return reader.error();
    if (!lines) return request;
    if (lines->size() > max_basket_lines) return invalid("lines", "lines holds too many lines");
    for (std::size_t i = 0; i < lines->size(); ++i) {
        JsonReader line(lines->at(i), "lines[" + std::to_string(i) + "]");
        ReturnLineRequest item;
        item.sku = line.text("sku", max_text_length);
        item.quantity = line.integer("quantity", 1, max_line_quantity);
        if (!line.ok()) return line.error();
        request.lines.push_back(std::move(item));
    }
    return request;
}

}  // namespace loyalty
