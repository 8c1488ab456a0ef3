# sparc_discover_tests(<target> [TEST_PREFIX <prefix>] [LABELS <label>...] [TIMEOUT <s>])
#
# catch_discover_tests() with labels that survive: Catch2 2.13 passes PROPERTIES through a
# `-D` list, so `PROPERTIES LABELS "unit;db"` arrives as `LABELS unit db` and only "unit" is
# set. Here the labels (and timeout) are applied by an extra CTest include file that runs after
# the discovered tests are defined. A test whose name CTest cut short (at a `;`) matches no
# test case; that fails instead of passing with nothing run.
include_guard(GLOBAL)
include(Catch)

function(sparc_discover_tests target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "TEST_PREFIX;TIMEOUT" "LABELS")
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT 300)
    endif()
    set(list_var "${target}_TESTS")
    catch_discover_tests(${target} TEST_PREFIX "${arg_TEST_PREFIX}" TEST_LIST ${list_var})
    set(props_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_properties.cmake")
    file(WRITE "${props_file}"
        "foreach(t IN LISTS ${list_var})\n"
        "    set_tests_properties(\"\${t}\" PROPERTIES LABELS \"${arg_LABELS}\" TIMEOUT ${arg_TIMEOUT}\n"
        "        FAIL_REGULAR_EXPRESSION \"No test cases matched\")\n"
        "endforeach()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${props_file}")
endfunction()

# sparc_unity_tests(<target>...)
#
# With SPARC_UNITY_TESTS, builds each target's sources SPARC_UNITY_BATCH_SIZE at a time in one
# translation unit: the test files instantiate the same templates (ConnectionPool<FakeBackend>,
# Catch2, fmt), which then get compiled once per batch instead of once per file. Small batches
# keep two compile jobs busy and each one's memory bounded (sanitized builds especially).
function(sparc_unity_tests)
    if(NOT SPARC_UNITY_TESTS)
        return()
    endif()
    foreach(target IN LISTS ARGN)
        set_target_properties(${target} PROPERTIES
            UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${SPARC_UNITY_BATCH_SIZE})
    endforeach()
endfunction()
