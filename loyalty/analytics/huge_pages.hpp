// Private: vectors of millions of records (purchase lines, dictionary tables, per-member rows)
// reserved in transparent huge pages. In a virtual machine a page fault every 4 KiB cost a
// third of reading a CSV; where the kernel leaves huge pages to the program (madvise), there
// is one fault every 2 MiB, and a table probed at random needs few TLB entries. Only a hint:
// if the kernel refuses, nothing else changes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace loyalty::analytics {

// Reserves room for count items, advised before any is written: the items already there are
// moved after the advice, so their pages are huge too. Untouched capacity costs no memory.
template <typename Item>
void reserve_in_huge_pages(std::vector<Item>& items, std::size_t count) {
    if (count <= items.capacity()) return;
    std::vector<Item> moved;
    moved.reserve(count);
#ifdef __linux__
    constexpr std::uintptr_t huge_page = 2 << 20;
    const auto begin =
        (reinterpret_cast<std::uintptr_t>(moved.data()) + huge_page - 1) & ~(huge_page - 1);
    const auto end = reinterpret_cast<std::uintptr_t>(moved.data() + count) & ~(huge_page - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
    std::move(items.begin(), items.end(), std::back_inserter(moved));
    items = std::move(moved);
}

}  // namespace loyalty::analytics
