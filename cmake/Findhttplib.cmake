# Findhttplib: cpp-httplib as the imported target httplib::httplib.
#
# Upstream installs a CMake config package (used when present). Debian's libcpp-httplib-dev
# ships a compiled library with only a pkg-config file, whose compile definitions (OpenSSL,
# zlib, Brotli support) change the classes' layout and so must be used as well.
if(TARGET httplib::httplib)
    set(httplib_FOUND TRUE)
    return()
endif()

find_package(httplib CONFIG QUIET)
if(httplib_FOUND AND TARGET httplib::httplib)
    return()
endif()

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(SPARC_PC_HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
endif()
if(SPARC_PC_HTTPLIB_FOUND)
    add_library(httplib::httplib INTERFACE IMPORTED)
    target_link_libraries(httplib::httplib INTERFACE PkgConfig::SPARC_PC_HTTPLIB Threads::Threads)
    set(httplib_VERSION ${SPARC_PC_HTTPLIB_VERSION})
else()
    # Header-only httplib.h, found on the include path.
    find_path(HTTPLIB_INCLUDE_DIR httplib.h)
    if(HTTPLIB_INCLUDE_DIR)
        add_library(httplib::httplib INTERFACE IMPORTED)
        target_include_directories(httplib::httplib INTERFACE ${HTTPLIB_INCLUDE_DIR})
        target_link_libraries(httplib::httplib INTERFACE Threads::Threads)
    endif()
endif()

include(FindPackageHandleStandardArgs)
if(TARGET httplib::httplib)
    set(SPARC_HTTPLIB_TARGET httplib::httplib)
endif()
find_package_handle_standard_args(httplib REQUIRED_VARS SPARC_HTTPLIB_TARGET
    VERSION_VAR httplib_VERSION)
