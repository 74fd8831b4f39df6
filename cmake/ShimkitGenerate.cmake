# ShimkitGenerate.cmake - shimkit_generate(): .proto files -> protoc-c messages
# (<name>.pb-c.{c,h}) and protoc-gen-shimkit stubs (<name>.shimkit.{c,h}),
# compiled into a target.
#
#   shimkit_generate(<target>
#     PROTOS <files...>            .proto files (relative to the current source dir or absolute)
#     IMPORT_DIRS <dirs...>        -I roots; each proto must lie under one of them
#     [OUT_DIR <dir>]              default ${CMAKE_CURRENT_BINARY_DIR}/shimkit_generated
#     [PLUGIN <path>]              protoc-gen-shimkit to use (see below)
#     [GENERATED_SOURCES_VAR <var>])  receives the generated .c files
#
# Output names follow the proto's path relative to the import dir holding it:
# <IMPORT_DIR>/grpc/health/v1/health.proto -> OUT_DIR/grpc/health/v1/health.pb-c.c,
# .pb-c.h, .shimkit.c and .shimkit.h. The generated .c files are added to the
# target's sources and OUT_DIR to its PUBLIC include directories (build tree).
#
# The plugin is, in order: PLUGIN; the in-tree target protoc-gen-shimkit;
# SHIMKIT_PROTOC_GEN (the installed package config sets it); a
# protoc-gen-shimkit found next to this file's install prefix or on PATH.
# protoc is PROTOC (found if unset); protoc-c's plugin is SHIMKIT_PROTOC_GEN_C
# or protoc-gen-c on PATH. This file is installed with the package config, so
# it uses only those variables, never the source tree.
include_guard(GLOBAL)

set(_SHIMKIT_GENERATE_DIR ${CMAKE_CURRENT_LIST_DIR})

function(_shimkit_find_tools)
  if(NOT PROTOC)
    find_program(PROTOC protoc REQUIRED)
  endif()
  if(NOT SHIMKIT_PROTOC_GEN_C)
    find_program(SHIMKIT_PROTOC_GEN_C protoc-gen-c REQUIRED)
  endif()
endfunction()

function(shimkit_generate target)
  cmake_parse_arguments(PARSE_ARGV 1 SG "" "OUT_DIR;PLUGIN;GENERATED_SOURCES_VAR"
                        "PROTOS;IMPORT_DIRS")
  if(SG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "shimkit_generate: unknown arguments: ${SG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "shimkit_generate: ${target} is not a target")
  endif()
  if(NOT SG_PROTOS)
    message(FATAL_ERROR "shimkit_generate(${target}): no PROTOS given")
  endif()
  if(NOT SG_IMPORT_DIRS)
    message(FATAL_ERROR "shimkit_generate(${target}): no IMPORT_DIRS given")
  endif()
  if(NOT SG_OUT_DIR)
    set(SG_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/shimkit_generated)
  endif()
  get_filename_component(SG_OUT_DIR "${SG_OUT_DIR}" ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
  _shimkit_find_tools()

  # Which plugin, and what its outputs depend on.
  set(_plugin_dep "")
  if(SG_PLUGIN)
    get_filename_component(_plugin "${SG_PLUGIN}" ABSOLUTE)
    set(_plugin_dep ${_plugin})
  elseif(TARGET protoc-gen-shimkit)
    set(_plugin $<TARGET_FILE:protoc-gen-shimkit>)
    set(_plugin_dep protoc-gen-shimkit)
  else()
    if(NOT SHIMKIT_PROTOC_GEN)
      find_program(SHIMKIT_PROTOC_GEN protoc-gen-shimkit
        HINTS ${_SHIMKIT_GENERATE_DIR}/../../../bin ${_SHIMKIT_GENERATE_DIR}/../../bin)
    endif()
    if(NOT SHIMKIT_PROTOC_GEN)
      message(FATAL_ERROR "shimkit_generate: protoc-gen-shimkit not found; set SHIMKIT_PROTOC_GEN")
    endif()
    set(_plugin ${SHIMKIT_PROTOC_GEN})
    set(_plugin_dep ${SHIMKIT_PROTOC_GEN})
  endif()

  # -I flags: the given roots, then the protobuf include dir for the
  # well-known types (protoc usually finds those itself; this makes it sure).
  set(_import_dirs "")
  foreach(_dir IN LISTS SG_IMPORT_DIRS)
    get_filename_component(_abs "${_dir}" ABSOLUTE)
    list(APPEND _import_dirs ${_abs})
  endforeach()
  set(_include_flags "")
  foreach(_dir IN LISTS _import_dirs)
    list(APPEND _include_flags -I${_dir})
  endforeach()
  if(SHIMKIT_PROTOBUF_INCLUDE)
    get_filename_component(_pbinc "${SHIMKIT_PROTOBUF_INCLUDE}" ABSOLUTE)
    if(NOT _pbinc IN_LIST _import_dirs AND EXISTS ${_pbinc}/google/protobuf/descriptor.proto)
      list(APPEND _include_flags -I${_pbinc})
    endif()
  endif()

  set(_sources "")
  set(_headers "")
  foreach(_proto IN LISTS SG_PROTOS)
    get_filename_component(_abs "${_proto}" ABSOLUTE)
    if(NOT EXISTS ${_abs})
      message(FATAL_ERROR "shimkit_generate(${target}): ${_abs} does not exist")
    endif()
    # The first import dir that contains the file names it, as protoc does.
    set(_rel "")
    foreach(_dir IN LISTS _import_dirs)
      file(RELATIVE_PATH _candidate ${_dir} ${_abs})
      if(NOT _candidate MATCHES "^\\.\\./" AND NOT IS_ABSOLUTE "${_candidate}")
        set(_rel ${_candidate})
        break()
      endif()
    endforeach()
    if(_rel STREQUAL "")
      message(FATAL_ERROR "shimkit_generate(${target}): ${_abs} is under none of IMPORT_DIRS "
                          "(${SG_IMPORT_DIRS})")
    endif()
    string(REGEX REPLACE "\\.proto$" "" _base ${_rel})
    set(_out_c ${SG_OUT_DIR}/${_base}.pb-c.c ${SG_OUT_DIR}/${_base}.shimkit.c)
    set(_out_h ${SG_OUT_DIR}/${_base}.pb-c.h ${SG_OUT_DIR}/${_base}.shimkit.h)
    add_custom_command(
      OUTPUT ${_out_c} ${_out_h}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${SG_OUT_DIR}
      COMMAND ${PROTOC} ${_include_flags}
              --plugin=protoc-gen-c=${SHIMKIT_PROTOC_GEN_C} --c_out=${SG_OUT_DIR}
              --plugin=protoc-gen-shimkit=${_plugin} --shimkit_out=${SG_OUT_DIR}
              --dependency_out=${SG_OUT_DIR}/${_base}.d
              ${_abs}
      DEPENDS ${_abs} ${_plugin_dep}
      DEPFILE ${SG_OUT_DIR}/${_base}.d
      COMMENT "shimkit_generate: ${_rel}"
      VERBATIM)
    list(APPEND _sources ${_out_c})
    list(APPEND _headers ${_out_h})
  endforeach()

  target_sources(${target} PRIVATE ${_sources} ${_headers})
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${SG_OUT_DIR}>)
  if(TARGET PkgConfig::PROTOBUF_C)
    target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUF_C)
  endif()
  if(SG_GENERATED_SOURCES_VAR)
    set(${SG_GENERATED_SOURCES_VAR} ${_sources} PARENT_SCOPE)
  endif()
endfunction()
