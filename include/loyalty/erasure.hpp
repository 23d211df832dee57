// Erasing a member's personal data (issue 11): name, phone, e-mail and card numbers go from
// every table and stored document; the member id, which is pseudonymous, keeps the ledger's
// amounts so that balances, accounting totals and the audit stay correct.
#pragma once

#include <string>
#include <string_view>

namespace loyalty {

// An SQL expression: the JSON document in `column` (an event payload, a request or an answer)
// with the personal data blanked wherever the product puts it, marked "erased": true. Paths a
// document does not have are left alone.
std::string scrub_personal_data_sql(std::string_view column);

}  // namespace loyalty
