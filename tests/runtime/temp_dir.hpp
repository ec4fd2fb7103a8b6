#pragma once

// Test helpers shared by the runtime tests: a fresh directory per test, small file utilities
// that go straight to the OS (so what a test checks is what is really on disk, not what a
// file_system wrapper believes), and printers so a failing CHECK shows names, not numbers.

#include "runtime/errc.hpp"
#include "runtime/record.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>

namespace holdfast::test {

/// A fresh directory under /tmp, removed with everything in it when the object dies.
class temp_dir {
public:
  temp_dir() {
    char tmpl[] = "/tmp/holdfast-runtime-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  [[nodiscard]] const std::string& path() const noexcept {
    return path_;
  }

  /// `path()/name`.
  [[nodiscard]] std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }

private:
  std::string path_;
};

/// The bytes of a file as the OS has them ("" for a missing file).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Replaces the content of a file behind the back of any file_system object.
inline void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Appends raw bytes to a file behind the back of any file_system object.
inline void append_raw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline uint64_t file_size(const std::string& path) {
  return std::filesystem::file_size(path);
}

/// One encoded record of topic "t" at commit-log `offset`: message number `i` (queue offset
/// `i`, id "m" and four digits, so only `body` changes a record's size) with `body` bytes.
inline std::string encoded_record(uint64_t offset, size_t i, size_t body) {
  message m;
  m.topic = "t";
  char id[16];
  std::snprintf(id, sizeof(id), "m%04zu", i);
  m.msg_id = id;
  m.body.assign(body, static_cast<char>('a' + i % 26));
  record::fields f;
  f.commit_log_offset = offset;
  f.queue_offset = i;
  std::string out;
  record::encode(m, f, out);
  return out;
}

} // namespace holdfast::test

namespace Catch {

template <>
struct StringMaker<holdfast::errc> {
  static std::string convert(holdfast::errc x) {
    return std::string(holdfast::to_string(x));
  }
};

template <>
struct StringMaker<holdfast::record::decode_status> {
  static std::string convert(holdfast::record::decode_status x) {
    return std::string(holdfast::record::to_string(x));
  }
};

} // namespace Catch
