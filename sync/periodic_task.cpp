#include "periodic_task.hpp"

#include "loyalty/json_log.hpp"

namespace loyalty::hq {

PeriodicTask::PeriodicTask(std::chrono::milliseconds interval, std::string failure_event,
                           std::function<Result<Done>()> task)
    : interval_(interval), failure_event_(std::move(failure_event)), task_(std::move(task)),
      thread_([this] { loop(); }) {}

PeriodicTask::~PeriodicTask() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void PeriodicTask::loop() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
        lock.unlock();
        try {
            const Result<Done> done = task_();
            if (!done) http::log_event(http::LogLevel::warn, failure_event_, {{"message", done.error().message}});
        } catch (const std::exception& error) {
            http::log_event(http::LogLevel::error, failure_event_, {{"message", error.what()}});
        }
        lock.lock();
    }
}

}  // namespace loyalty::hq
