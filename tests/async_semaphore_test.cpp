#include "async_semaphore.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <optional>
#include <vector>

namespace asio = boost::asio;
using loyalty::hq::AsyncSemaphore;

namespace {

struct Record {
    std::vector<int> order;  // who got a permit, in turn
    int holding = 0;
    int most_holding = 0;
};

// Takes a permit, holds it over a few turns of the io_context (so others run meanwhile), gives it back.
asio::awaitable<void> take_turn(AsyncSemaphore& semaphore, Record& record, int who, int turns_held) {
    const AsyncSemaphore::Permit permit = co_await semaphore.acquire();
    record.order.push_back(who);
    record.most_holding = std::max(record.most_holding, ++record.holding);
    for (int turn = 0; turn < turns_held; ++turn) co_await asio::post(asio::use_awaitable);
    --record.holding;
}

// Takes a permit as 0, gives it back while 1 waits, and at once asks again as 2.
asio::awaitable<void> give_back_and_ask_again(AsyncSemaphore& semaphore, Record& record) {
    {
        const AsyncSemaphore::Permit first = co_await semaphore.acquire();
        record.order.push_back(0);
        co_await asio::post(asio::use_awaitable);  // 1 starts and queues meanwhile
    }
    const AsyncSemaphore::Permit again = co_await semaphore.acquire();
    record.order.push_back(2);
}

// Holds a permit until the io_context goes.
asio::awaitable<void> hold_for_ever(AsyncSemaphore& semaphore, asio::steady_timer& never) {
    const AsyncSemaphore::Permit permit = co_await semaphore.acquire();
    co_await never.async_wait(asio::use_awaitable);
}

}  // namespace

TEST_CASE("no more than the permits are held at once, and they go first come, first served",
          "[async_semaphore]") {
    AsyncSemaphore semaphore(2);
    asio::io_context io;
    Record record;
    std::vector<int> expected;
    for (int who = 0; who < 8; ++who) {
        // Uneven holding times shuffle the releases; the queue's order must not follow them.
        asio::co_spawn(io, take_turn(semaphore, record, who, 1 + (who * 5) % 4), asio::detached);
        expected.push_back(who);
    }
    io.run();
    CHECK(record.order == expected);
    CHECK(record.most_holding == 2);
    CHECK(semaphore.available() == 2);
    CHECK(semaphore.waiting() == 0);
}

TEST_CASE("a permit given back goes to the first waiter, not to whoever asks next", "[async_semaphore]") {
    AsyncSemaphore semaphore(1);
    asio::io_context io;
    Record record;
    asio::co_spawn(io, give_back_and_ask_again(semaphore, record), asio::detached);
    asio::co_spawn(io, take_turn(semaphore, record, 1, 1), asio::detached);
    io.run();
    CHECK(record.order == std::vector<int>{0, 1, 2});
}

TEST_CASE("coroutines destroyed with their io_context give back their permits and leave the queue",
          "[async_semaphore]") {
    AsyncSemaphore semaphore(1);  // outlives the io_context, as in the sync server
    Record record;
    {
        asio::io_context io;
        asio::steady_timer never(io, asio::steady_timer::time_point::max());
        asio::co_spawn(io, hold_for_ever(semaphore, never), asio::detached);
        for (int who = 0; who < 3; ++who)
            asio::co_spawn(io, take_turn(semaphore, record, who, 1), asio::detached);
        io.poll();
        REQUIRE(semaphore.available() == 0);
        REQUIRE(semaphore.waiting() == 3);
    }
    CHECK(record.order.empty());
    CHECK(semaphore.waiting() == 0);
    CHECK(semaphore.available() == 1);
}
