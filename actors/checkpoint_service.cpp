#include "actors/checkpoint_service.hpp"

namespace holdfast {

void checkpoint_slot::put(std::unique_ptr<checkpoint_job> job) {
  std::lock_guard guard{mtx_};
  job_ = std::move(job);
}

bool checkpoint_slot::run() {
  checkpoint_job* job = nullptr;
  {
    std::lock_guard guard{mtx_};
    if (!job_)
      return false;
    job = job_.get();
    running_ = true;
  }
  // The slot keeps the job alive and nobody else touches it until running_ is false again.
  if (job->result == errc::ok)
    job->run();
  std::lock_guard guard{mtx_};
  running_ = false;
  idle_.notify_all();
  return job->result == errc::ok;
}

std::unique_ptr<checkpoint_job> checkpoint_slot::take() {
  std::lock_guard guard{mtx_};
  return running_ ? nullptr : std::move(job_);
}

void checkpoint_slot::discard() {
  std::unique_lock lock{mtx_};
  idle_.wait(lock, [this] { return !running_; });
  job_.reset();
}

void checkpoint_slot::wait_idle() {
  std::unique_lock lock{mtx_};
  idle_.wait(lock, [this] { return !running_; });
}

checkpoint_service_actor::behavior_type checkpoint_service(std::shared_ptr<checkpoint_slot> slot) {
  return {
    [slot](checkpoint_atom) -> bool { return slot->run(); },
  };
}

} // namespace holdfast
