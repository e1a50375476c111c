# `cmake --install build --prefix P`: the public headers, the libraries, the glpdepth CLI, a CMake
# package (find_package(glpdepth CONFIG) -> glpdepth::glpdepth, which brings LibTorch along) and
# glpdepth.pc for pkg-config.
include(CMakePackageConfigHelpers)

set(GLPDEPTH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/glpdepth)
set(_installed glpdepth)
foreach(component ${GLPDEPTH_COMPONENTS})
  list(APPEND _installed glpdepth_${component})
endforeach()
install(TARGETS ${_installed} EXPORT glpdepthTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/glpdepth DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The installed CLI finds the LibTorch it was linked against (pip's lives in a venv).
set_target_properties(glpdepth_cli PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS glpdepth_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT glpdepthTargets NAMESPACE glpdepth:: DESTINATION ${GLPDEPTH_CMAKE_DIR})

configure_package_config_file(cmake/glpdepthConfig.cmake.in
  ${CMAKE_BINARY_DIR}/glpdepthConfig.cmake INSTALL_DESTINATION ${GLPDEPTH_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/glpdepthConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/glpdepthConfig.cmake ${CMAKE_BINARY_DIR}/glpdepthConfigVersion.cmake
        DESTINATION ${GLPDEPTH_CMAKE_DIR})

# pkg-config: our static libraries in link order (users before what they use), then LibTorch's
# shared libraries from the folder they were found in (with an rpath, pip's is not on the
# loader's path), then ONNX's when export is built in.
set(_pc_libs "")
foreach(component train eval infer deploy model data dist io util)
  if(TARGET glpdepth_${component})
    get_target_property(_type glpdepth_${component} TYPE)
    if(_type STREQUAL "STATIC_LIBRARY")
      string(APPEND _pc_libs " -lglpdepth_${component}")
    endif()
  endif()
endforeach()
get_filename_component(_torch_libdir "${TORCH_LIBRARY}" DIRECTORY)
string(APPEND _pc_libs " -L${_torch_libdir} -Wl,-rpath,${_torch_libdir} -ltorch -ltorch_cpu -lc10")
if(GLPDEPTH_HAVE_CUDA)
  string(APPEND _pc_libs " -ltorch_cuda -lc10_cuda")
endif()
if(GLPDEPTH_HAVE_ONNX)
  string(APPEND _pc_libs " -lonnx_proto -lprotobuf")
endif()
string(APPEND _pc_libs " -pthread")
set(_pc_cflags "")
foreach(dir ${TORCH_INCLUDE_DIRS})
  if(NOT dir STREQUAL "/usr/include")
    string(APPEND _pc_cflags " -isystem ${dir}")
  endif()
endforeach()
set(GLPDEPTH_PC_LIBS "${_pc_libs}")
set(GLPDEPTH_PC_CFLAGS "-std=c++17 ${TORCH_CXX_FLAGS}${_pc_cflags}")
file(RELATIVE_PATH GLPDEPTH_PC_UP /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/glpdepth.pc.in ${CMAKE_BINARY_DIR}/glpdepth.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/glpdepth.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
