# Debian's libzookeeper-mt-dev ships the C client's headers and libzookeeper_mt, but no CMake
# package config or pkg-config file, so we locate it ourselves (like FindCAF.cmake). Only the
# multi-threaded library: its own I/O and completion threads let the client keep the session
# alive while the caller blocks (runtime/zk_client.hpp).
find_path(ZooKeeper_INCLUDE_DIR zookeeper/zookeeper.h)
find_library(ZooKeeper_LIBRARY NAMES zookeeper_mt)
if(ZooKeeper_INCLUDE_DIR AND EXISTS "${ZooKeeper_INCLUDE_DIR}/zookeeper/zookeeper_version.h")
  file(STRINGS "${ZooKeeper_INCLUDE_DIR}/zookeeper/zookeeper_version.h" _zk_version_line
       REGEX "^#define ZOO_VERSION \"[0-9.]+\"")
  string(REGEX REPLACE "^#define ZOO_VERSION \"([0-9.]+)\".*" "\\1" ZooKeeper_VERSION
         "${_zk_version_line}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ZooKeeper
  REQUIRED_VARS ZooKeeper_INCLUDE_DIR ZooKeeper_LIBRARY
  VERSION_VAR ZooKeeper_VERSION)
if(ZooKeeper_FOUND AND NOT TARGET ZooKeeper::zookeeper_mt)
  add_library(ZooKeeper::zookeeper_mt UNKNOWN IMPORTED)
  # The headers are included as <zookeeper/zookeeper.h>: the include dir is the parent.
  set_target_properties(ZooKeeper::zookeeper_mt PROPERTIES
    IMPORTED_LOCATION "${ZooKeeper_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${ZooKeeper_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS THREADED
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
