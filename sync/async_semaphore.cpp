#include "async_semaphore.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace loyalty::hq {

namespace asio = boost::asio;

asio::awaitable<AsyncSemaphore::Permit> AsyncSemaphore::acquire() {
    // Only a free permit nobody queues for is taken at once: a newcomer never overtakes.
    if (available_ > 0 && waiting_.empty()) {
        --available_;
        co_return Permit(*this);
    }
    const asio::any_io_executor executor = co_await asio::this_coro::executor;
    asio::steady_timer wake(executor, asio::steady_timer::time_point::max());
    Waiter waiter{&wake};
    waiter.place = waiting_.insert(waiting_.end(), &waiter);
    // If the coroutine ends before it has its Permit (its io_context destroyed), it leaves the
    // queue, or gives back the permit it was handed.
    struct Leave {
        AsyncSemaphore& semaphore;
        Waiter& waiter;
        ~Leave() {
            if (!waiter.granted)
                semaphore.waiting_.erase(waiter.place);
            else if (!waiter.taken)
                semaphore.release();
        }
    } leave{*this, waiter};
    // release() cancels the timer once it has handed this waiter its permit.
    while (!waiter.granted) co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    waiter.taken = true;
    co_return Permit(*this);
}

// Hands the permit straight to the first waiter, so it cannot be taken in between.
void AsyncSemaphore::release() {
    if (waiting_.empty()) {
        ++available_;
        return;
    }
    Waiter* next = waiting_.front();
    waiting_.pop_front();
    next->granted = true;
    next->wake->cancel();
}

}  // namespace loyalty::hq
