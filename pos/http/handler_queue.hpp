// Private to loyalty_http: the handler threads and the requests waiting for them. With a
// HandlerGroup (one thread only), a thread that gets free takes every request waiting and runs
// them as one group, answering none before the group's end; a request that waits alone runs
// as it is.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "loyalty/http_server.hpp"

namespace loyalty::http {

class HandlerQueue {
  public:
    HandlerQueue(int threads, HandlerGroup group);
    ~HandlerQueue();  // join()
    HandlerQueue(const HandlerQueue&) = delete;
    HandlerQueue& operator=(const HandlerQueue&) = delete;

    // Runs `work` on a handler thread; completes on the caller's executor with its response.
    template <class CompletionToken>
    auto async_run(std::function<Response()> work, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(Response)>(
            [this](auto done, std::function<Response()> queued) { push({std::move(queued), std::move(done)}); },
            token, std::move(work));
    }

    // Runs what is queued, then stops the threads. Idempotent.
    void join();

  private:
    struct Job {
        std::function<Response()> work;
        boost::asio::any_completion_handler<void(Response)> done;
    };

    void push(Job job);
    void serve();  // one thread's loop
    void run(std::vector<Job>& jobs);

    const HandlerGroup group_;
    std::mutex mutex_;
    std::condition_variable queued_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace loyalty::http
