// A counting semaphore for coroutines that all run on one thread (one io_context): acquire()
// waits for one of `count` permits, first come first served, and the Permit gives it back when
// it goes. Head office's sync listener takes one per event batch before parsing it, so at most
// a few parsed batches wait for the database thread at once, and tills take turns in the
// order their batches arrived.
//
// Not thread-safe: acquire, and every Permit's end, on the io_context's one thread. The
// semaphore must outlive its Permits and waiters (a waiter destroyed while waiting, as when
// the io_context is destroyed, leaves the queue, or gives back a permit it had been handed).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <list>

namespace loyalty::hq {

class AsyncSemaphore {
  public:
    class Permit {
      public:
        Permit(Permit&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
        Permit(const Permit&) = delete;
        Permit& operator=(const Permit&) = delete;
        Permit& operator=(Permit&&) = delete;
        ~Permit() {
            if (owner_) owner_->release();
        }

      private:
        friend class AsyncSemaphore;
        explicit Permit(AsyncSemaphore& owner) : owner_(&owner) {}
        AsyncSemaphore* owner_;
    };

    explicit AsyncSemaphore(std::size_t count) : available_(count) {}
    AsyncSemaphore(const AsyncSemaphore&) = delete;
    AsyncSemaphore& operator=(const AsyncSemaphore&) = delete;

    boost::asio::awaitable<Permit> acquire();

    std::size_t available() const { return available_; }
    std::size_t waiting() const { return waiting_.size(); }

  private:
    struct Waiter {
        boost::asio::steady_timer* wake;  // in the waiting coroutine's frame
        std::list<Waiter*>::iterator place{};
        bool granted = false;  // handed a permit by release()
        bool taken = false;    // and made it its Permit
    };

    void release();

    std::size_t available_;
    std::list<Waiter*> waiting_;
};

}  // namespace loyalty::hq
