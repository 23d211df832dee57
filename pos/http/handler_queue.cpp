#include "handler_queue.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/dispatch.hpp>
#include <stdexcept>

namespace loyalty::http {

HandlerQueue::HandlerQueue(int threads, HandlerGroup group) : group_(std::move(group)) {
    if (group_.begin && threads != 1)
        throw std::invalid_argument("a handler group needs exactly one handler thread, not " +
                                    std::to_string(threads));
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { serve(); });
}

HandlerQueue::~HandlerQueue() { join(); }

void HandlerQueue::join() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queued_.notify_all();
    for (std::thread& thread : threads_)
        if (thread.joinable()) thread.join();
}

void HandlerQueue::push(Job job) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(job));
    }
    queued_.notify_one();
}

void HandlerQueue::serve() {
    for (;;) {
        std::vector<Job> jobs;
        {
            std::unique_lock lock(mutex_);
            queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and nothing left to answer
            // A group takes every waiting request; without one, each thread takes the next.
            const std::size_t take = group_.begin ? queue_.size() : 1;
            for (std::size_t i = 0; i < take; ++i) {
                jobs.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        run(jobs);
    }
}

void HandlerQueue::run(std::vector<Job>& jobs) {
    const bool grouped = group_.begin && jobs.size() > 1;
    if (grouped) group_.begin();
    std::vector<Response> responses;
    responses.reserve(jobs.size());
    for (Job& job : jobs) responses.push_back(job.work());
    if (grouped) {
        if (const std::optional<Response> failure = group_.end())
            for (Response& response : responses) response = *failure;
    }
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        // The caller resumes on its own executor (its connection's strand), never inline on
        // this thread, which runs no I/O (Boost 1.81's type-erased handler cannot be `post`ed).
        boost::asio::dispatch(boost::asio::append(std::move(jobs[i].done), std::move(responses[i])));
    }
}

}  // namespace loyalty::http
