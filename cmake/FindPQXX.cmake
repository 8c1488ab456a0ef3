# FindPQXX: locates libpqxx through pkg-config (Debian's libpqxx 6.4 ships no CMake package).
# Defines the imported target PQXX::pqxx and PQXX_FOUND / PQXX_VERSION.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_PQXX QUIET libpqxx)
endif()
find_path(PQXX_INCLUDE_DIR NAMES pqxx/pqxx HINTS ${PC_PQXX_INCLUDE_DIRS})
find_library(PQXX_LIBRARY NAMES pqxx HINTS ${PC_PQXX_LIBRARY_DIRS})
set(PQXX_VERSION ${PC_PQXX_VERSION})
find_package_handle_standard_args(PQXX
    REQUIRED_VARS PQXX_LIBRARY PQXX_INCLUDE_DIR
    VERSION_VAR PQXX_VERSION)
if(PQXX_FOUND AND NOT TARGET PQXX::pqxx)
    if(NOT TARGET PostgreSQL::PostgreSQL)
        find_package(PostgreSQL REQUIRED)
    endif()
    add_library(PQXX::pqxx UNKNOWN IMPORTED)
    set_target_properties(PQXX::pqxx PROPERTIES
        IMPORTED_LOCATION "${PQXX_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${PQXX_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES PostgreSQL::PostgreSQL)
endif()
mark_as_advanced(PQXX_INCLUDE_DIR PQXX_LIBRARY)
