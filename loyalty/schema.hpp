// The till's (and head office's core) schema, as an ordered list of migrations. A migration,
// once released, is never edited: changes come as a new migration.
#pragma once

#include <vector>

#include "loyalty/store.hpp"

namespace loyalty {

const std::vector<Migration>& program_migrations();

}  // namespace loyalty
