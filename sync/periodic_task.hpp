// A task head office runs every so often on a thread of its own (the web node's maintenance,
// the engagement run), until destroyed. The task does its store work through the
// DatabaseThread like any request; a failure is logged as `failure_event` and the next period
// tries again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "loyalty/result.hpp"

namespace loyalty::hq {

class PeriodicTask {
  public:
    PeriodicTask(std::chrono::milliseconds interval, std::string failure_event, std::function<Result<Done>()> task);
    ~PeriodicTask();  // stops the loop and joins the thread
    PeriodicTask(const PeriodicTask&) = delete;
    PeriodicTask& operator=(const PeriodicTask&) = delete;

  private:
    void loop();

    std::chrono::milliseconds interval_;
    std::string failure_event_;
    std::function<Result<Done>()> task_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;  // last: started once everything above is set
};

}  // namespace loyalty::hq
