cmake_minimum_required(VERSION 3.20)
# malformed_stdin.cmake - the real protoc-gen-shimkit on bytes that are not a
# CodeGeneratorRequest: it must exit with 1 and a message, never crash.
file(MAKE_DIRECTORY ${WORK_DIR})
set(_cases "")
# a field with a length running past the end
string(ASCII 10 127 _overrun)
file(WRITE ${WORK_DIR}/overrun.bin "${_overrun}abc")
list(APPEND _cases overrun)
# an invalid wire type (7) on field 1
string(ASCII 15 _b)
file(WRITE ${WORK_DIR}/wiretype.bin "${_b}${_b}${_b}")
list(APPEND _cases wiretype)
# plain text
file(WRITE ${WORK_DIR}/text.bin "this is not protobuf at all, just text\n")
list(APPEND _cases text)
foreach(c IN LISTS _cases)
  execute_process(COMMAND ${PLUGIN} INPUT_FILE ${WORK_DIR}/${c}.bin
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc STREQUAL "1")
    message(FATAL_ERROR "${c}: expected exit code 1, got '${rc}' (stderr: ${err})")
  endif()
  if(NOT err MATCHES "not a CodeGeneratorRequest")
    message(FATAL_ERROR "${c}: no clear message on stderr: ${err}")
  endif()
endforeach()
# extra arguments are refused with a usage line, --version works
execute_process(COMMAND ${PLUGIN} --version OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc STREQUAL "0" OR NOT out MATCHES "protoc-gen-shimkit")
  message(FATAL_ERROR "--version: rc=${rc} out=${out}")
endif()
message(STATUS "malformed stdin: all cases exited cleanly")
