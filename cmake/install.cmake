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
# The installed CLI finds the LibTorch it was linked against (pip's lives in a venv). The link
# path alone misses it when that venv sits inside the source tree (CMake leaves project folders
# out), so LibTorch's own folder is named too unless it is a system one.
set_target_properties(glpdepth_cli PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
get_filename_component(_torch_lib_dir "${TORCH_LIBRARY}" DIRECTORY)
if(_torch_lib_dir AND NOT _torch_lib_dir MATCHES "^/usr/lib")
  set_property(TARGET glpdepth_cli APPEND PROPERTY INSTALL_RPATH "${_torch_lib_dir}")
endif()
if(GLPDEPTH_HAVE_OPENVINO)  # the wheel's libs/ folder, inside the source tree's venv
  get_target_property(_openvino_library openvino::runtime IMPORTED_LOCATION_RELEASE)
  get_filename_component(_openvino_libdir "${_openvino_library}" DIRECTORY)
  set_property(TARGET glpdepth_cli APPEND PROPERTY INSTALL_RPATH "${_openvino_libdir}")
endif()
install(TARGETS glpdepth_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT glpdepthTargets NAMESPACE glpdepth:: DESTINATION ${GLPDEPTH_CMAKE_DIR})

# Where libtorch_cuda.so's own needs (NCCL, cuBLAS, ... of pip's nvidia wheels) lie: the
# -rpath-link flags configure-torch2.sh passed travel to consumers, or their linker resolves them
# against an older copy in the CUDA toolkit.
string(REGEX MATCHALL "-Wl,-rpath-link,[^ ]+" GLPDEPTH_CONSUMER_LINK_OPTIONS "${CMAKE_EXE_LINKER_FLAGS}")
string(REPLACE ";" " " _pc_link_options "${GLPDEPTH_CONSUMER_LINK_OPTIONS}")

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
if(GLPDEPTH_HAVE_OPENVINO)
  get_target_property(_openvino_library openvino::runtime IMPORTED_LOCATION_RELEASE)
  get_filename_component(_openvino_libdir "${_openvino_library}" DIRECTORY)
  string(APPEND _pc_libs " ${_openvino_library} -Wl,-rpath,${_openvino_libdir}")
endif()
if(GLPDEPTH_HAVE_VIDEO)
  list(JOIN GLPDEPTH_FFMPEG_LDFLAGS " " _ffmpeg_flags)
  string(APPEND _pc_libs " ${_ffmpeg_flags}")
endif()
string(APPEND _pc_libs " -ljpeg")
if(GLPDEPTH_HAVE_LIBDEFLATE)
  string(APPEND _pc_libs " -ldeflate")
endif()
string(APPEND _pc_libs " -pthread")
if(_pc_link_options)
  string(APPEND _pc_libs " ${_pc_link_options}")
endif()
set(_pc_cflags "")
foreach(dir ${TORCH_INCLUDE_DIRS})
  if(NOT dir STREQUAL "/usr/include")
    string(APPEND _pc_cflags " -isystem ${dir}")
  endif()
endforeach()
set(GLPDEPTH_PC_LIBS "${_pc_libs}")
# The language level LibTorch asks of its users (C++17 for 1.13 and 2.6, C++20 for pip's 2.15).
set(_pc_std 17)
get_target_property(_torch_features torch INTERFACE_COMPILE_FEATURES)
if(_torch_features MATCHES "cxx_std_20")
  set(_pc_std 20)
endif()
set(GLPDEPTH_PC_CFLAGS "-std=c++${_pc_std} ${TORCH_CXX_FLAGS}${_pc_cflags}")
file(RELATIVE_PATH GLPDEPTH_PC_UP /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/glpdepth.pc.in ${CMAKE_BINARY_DIR}/glpdepth.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/glpdepth.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
