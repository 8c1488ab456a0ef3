# cmake -DCXX=<compiler> -DSOURCE=<file> -DINCLUDES=<dirs> -DMESSAGE=<regex> -DTYPE=<regex>
#       -P expect_error.cmake
#
# SOURCE must compile with -DSPARC_EXPECT_OK and fail without it, with exactly one error whose
# output matches MESSAGE (the static_assert) and TYPE (the offending type's name).
set(args -std=c++20 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
    list(APPEND args "-I${dir}")
endforeach()

execute_process(COMMAND ${CXX} ${args} -DSPARC_EXPECT_OK ${SOURCE}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the supported variant of ${SOURCE} does not compile:\n${out}")
endif()

execute_process(COMMAND ${CXX} ${args} ${SOURCE}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message(STATUS "compiler output:\n${out}")
if(rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} compiled, but must not")
endif()
string(REGEX MATCHALL "error:" errors "${out}")
list(LENGTH errors count)
if(NOT count EQUAL 1)
    message(FATAL_ERROR "expected exactly one error, got ${count}")
endif()
foreach(expected IN ITEMS "${MESSAGE}" "${TYPE}")
    if(NOT out MATCHES "${expected}")
        message(FATAL_ERROR "the error does not match \"${expected}\"")
    endif()
endforeach()
