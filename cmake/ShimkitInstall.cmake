# Install rules: public headers, the bundled generated headers, libshimkit
# (shared and static), protoc-gen-shimkit, a pkg-config file and a CMake
# package (shimkitConfig.cmake) that exports the targets and shimkit_generate().
include(CMakePackageConfigHelpers)

set(SHIMKIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/shimkit)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/shimkit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(NOT SHIMKIT_GEN_DIR)
  message(FATAL_ERROR "SHIMKIT_GEN_DIR is not set: the install rules need the runtime's generated headers")
endif()
install(DIRECTORY ${SHIMKIT_GEN_DIR}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/shimkit/proto
        FILES_MATCHING PATTERN "*.h")
install(TARGETS shimkit shimkit_static EXPORT shimkitTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS protoc-gen-shimkit RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT shimkitTargets NAMESPACE shimkit:: DESTINATION ${SHIMKIT_CMAKE_DIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/shimkitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shimkitConfig.cmake
  INSTALL_DESTINATION ${SHIMKIT_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_BINDIR CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shimkitConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/shimkitConfig.cmake
  ${PROJECT_BINARY_DIR}/shimkitConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/ShimkitGenerate.cmake
  DESTINATION ${SHIMKIT_CMAKE_DIR})

configure_file(${PROJECT_SOURCE_DIR}/cmake/shimkit.pc.in ${PROJECT_BINARY_DIR}/shimkit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/shimkit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
