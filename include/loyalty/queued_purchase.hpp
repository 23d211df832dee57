// A purchase a till took for a card it does not know yet: the member may have enrolled at
// another till that head office has not heard from. The till keeps the basket and records it as
// an ordinary purchase (earning points, counting for tiers) as soon as the member is known here,
// so nothing a member bought offline is lost and nothing is credited twice: the queued sale and
// the recorded one share the POS's txn_id.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "loyalty/basket.hpp"

namespace loyalty {

struct QueuedPurchase {
    std::string txn_id;
    std::string card;
    std::string status = "queued";  // queued, recorded, cancelled (voided while queued), refused
    Cents net_cents = 0;
    std::string queued_at;
    std::string message;  // what the cashier can tell the customer
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueuedPurchase, txn_id, card, status, net_cents, queued_at, message)

// What one pass over the queue did.
struct QueueReplay {
    std::int64_t recorded = 0;  // now ordinary purchases
    std::int64_t refused = 0;   // the member is known but the purchase cannot be recorded
};

}  // namespace loyalty
