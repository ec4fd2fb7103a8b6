#include "runtime/file.hpp"

#include "runtime/log.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace holdfast {

std::string_view to_string(errc x) noexcept {
  switch (x) {
    case errc::ok: return "ok";
    case errc::io_error: return "I/O error";
    case errc::not_found: return "not found";
    case errc::corrupt: return "corrupt data";
    case errc::out_of_range: return "out of range";
    case errc::too_large: return "too large";
    case errc::invalid_argument: return "invalid argument";
    case errc::closed: return "closed";
    case errc::sticky_failure: return "an earlier fsync failed; restart the broker";
    case errc::out_of_sequence: return "sequence number out of order";
    case errc::no_space: return "no space left on device";
  }
  return "unknown";
}

namespace {

errc from_errno(const char* what, const std::string& path) {
  int e = errno;
  log_error("{} {}: {}", what, path, std::strerror(e));
  if (e == ENOSPC || e == EDQUOT)
    return errc::no_space;
  return e == ENOENT ? errc::not_found : errc::io_error;
}

class posix_file final : public file {
public:
  posix_file(int fd, std::string path, uint64_t size)
    : fd_(fd), path_(std::move(path)), size_(size) {
  }
  ~posix_file() override {
    ::close(fd_);
  }

  errc append(std::span<const char> data) override {
    // Single writer: size_ is only advanced by this thread, readers see it after the bytes.
    auto pos = size_.load(std::memory_order_relaxed);
    if (auto e = pwrite_all(pos, data); e != errc::ok)
      return e;
    size_.store(pos + data.size(), std::memory_order_release);
    return errc::ok;
  }

  errc write_at(uint64_t pos, std::span<const char> data) override {
    if (auto e = pwrite_all(pos, data); e != errc::ok)
      return e;
    auto end = pos + data.size();
    auto cur = size_.load(std::memory_order_relaxed);
    if (end > cur)
      size_.store(end, std::memory_order_release);
    return errc::ok;
  }

  errc read_at(uint64_t pos, std::span<char> out, size_t& n) const override {
    n = 0;
    while (n < out.size()) {
      auto r = ::pread(fd_, out.data() + n, out.size() - n, static_cast<off_t>(pos + n));
      if (r < 0) {
        if (errno == EINTR)
          continue;
        return from_errno("pread", path_);
      }
      if (r == 0)
        break;
      n += static_cast<size_t>(r);
    }
    return errc::ok;
  }

  errc flush() override {
    return errc::ok;
  }

  errc sync() override {
    if (::fdatasync(fd_) != 0)
      return from_errno("fdatasync", path_);
    return errc::ok;
  }

  errc truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
      return from_errno("ftruncate", path_);
    size_.store(size, std::memory_order_release);
    return errc::ok;
  }

  uint64_t size() const override {
    return size_.load(std::memory_order_acquire);
  }

private:
  errc pwrite_all(uint64_t pos, std::span<const char> data) {
    size_t done = 0;
    while (done < data.size()) {
      auto r = ::pwrite(fd_, data.data() + done, data.size() - done,
                        static_cast<off_t>(pos + done));
      if (r < 0) {
        if (errno == EINTR)
          continue;
        return from_errno("pwrite", path_);
      }
      done += static_cast<size_t>(r);
    }
    return errc::ok;
  }

  int fd_;
  std::string path_;
  std::atomic<uint64_t> size_;
};

class posix_file_system final : public file_system {
public:
  errc open(const std::string& path, open_mode mode, std::unique_ptr<file>& out) override {
    int flags = O_CLOEXEC | (mode == open_mode::read_only ? O_RDONLY : (O_RDWR | O_CREAT));
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0)
      return from_errno("open", path);
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      auto e = from_errno("fstat", path);
      ::close(fd);
      return e;
    }
    out = std::make_unique<posix_file>(fd, path, static_cast<uint64_t>(st.st_size));
    return errc::ok;
  }

  errc rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return from_errno("rename", from);
    return errc::ok;
  }

  errc remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0)
      return from_errno("unlink", path);
    return errc::ok;
  }

  errc create_dirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
      log_error("mkdir {}: {}", path, ec.message());
      return errc::io_error;
    }
    return errc::ok;
  }

  errc sync_dir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return from_errno("open dir", path);
    auto rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0)
      return from_errno("fsync dir", path);
    return errc::ok;
  }

  errc list(const std::string& path, std::vector<std::string>& out) override {
    out.clear();
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr)
      return from_errno("opendir", path);
    while (auto* ent = ::readdir(d)) {
      std::string name = ent->d_name;
      if (name != "." && name != "..")
        out.push_back(std::move(name));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return errc::ok;
  }

  bool exists(const std::string& path) override {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
  }
};

std::string parent_dir(const std::string& path) {
  auto p = std::filesystem::path(path).parent_path().string();
  return p.empty() ? "." : p;
}

} // namespace

file_system& posix_fs() {
  static posix_file_system instance;
  return instance;
}

errc write_file_atomically(file_system& fs, const std::string& path,
                           std::span<const char> data) {
  atomic_write_step failed;
  return write_file_atomically(fs, path, data, failed);
}

errc write_file_atomically(file_system& fs, const std::string& path, std::span<const char> data,
                           atomic_write_step& failed) {
  auto tmp = path + ".tmp";
  failed = atomic_write_step::write;
  {
    std::unique_ptr<file> f;
    if (auto e = fs.open(tmp, open_mode::read_write, f); e != errc::ok)
      return e;
    if (auto e = f->truncate(0); e != errc::ok)
      return e;
    if (auto e = f->append(data); e != errc::ok)
      return e;
    failed = atomic_write_step::sync;
    if (auto e = f->sync(); e != errc::ok)
      return e;
  }
  failed = atomic_write_step::rename;
  if (auto e = fs.rename(tmp, path); e != errc::ok)
    return e;
  failed = atomic_write_step::sync_dir;
  if (auto e = fs.sync_dir(parent_dir(path)); e != errc::ok)
    return e;
  failed = atomic_write_step::none;
  return errc::ok;
}

errc read_whole_file(file_system& fs, const std::string& path, std::string& out) {
  std::unique_ptr<file> f;
  if (auto e = fs.open(path, open_mode::read_only, f); e != errc::ok)
    return e;
  out.resize(f->size());
  size_t n = 0;
  if (auto e = f->read_at(0, std::span<char>(out.data(), out.size()), n); e != errc::ok)
    return e;
  out.resize(n);
  return errc::ok;
}

} // namespace holdfast
