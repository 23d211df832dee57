// Applying head office's downstream feed (docs/PROTOCOL.md, "Downstream") to a node's Program:
// the till's sync agent does it for items that arrive over TLS, head office's web channel
// (hq_online.hpp) for items it reads from the feed in-process. One code path, so every node
// changes its state the same way.
//
// Not thread-safe on its own: call it on the thread that owns the Program.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "loyalty/program.hpp"
#include "loyalty/protocol.hpp"

namespace loyalty::sync {

// The settings key holding the highest downstream version applied on this node.
inline constexpr std::string_view downstream_version_key = "sync_downstream_version";

// Applies one item with Program::apply_remote_event (idempotent by origin and seq); items of
// `own_till_id` are this node's own events and are skipped. The reason on failure (a malformed
// item, or a refusal of the ledger), in which case the caller must not move its cursor.
std::optional<std::string> apply_downstream_item(Program& program, const protocol::DownstreamItem& item,
                                                 std::string_view own_till_id);

// The highest downstream version recorded as applied (0 at first).
std::uint64_t stored_downstream_version(Program& program);
// Records `version` as applied, in a transaction of its own; never moves the cursor backwards.
void store_downstream_version(Program& program, std::uint64_t version);

}  // namespace loyalty::sync
