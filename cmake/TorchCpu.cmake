# libtorch for a build without CUDA.
#
# torch's own CMake package refuses to configure without a CUDA toolkit when the wheel was built with
# CUDA, and the torch wheel on PyPI is. A ztune built without ZTUNE_CUDA calls no CUDA code, so it
# needs only libtorch_cpu and libc10: this puts the `torch` target together from the wheel's folders
# (found through CMAKE_PREFIX_PATH, as find_package(Torch) finds them) with the compile definitions
# torch's package gives torch_cpu. A CPU-only wheel (download.pytorch.org/whl/cpu) works the same way.
find_file(ZTUNE_TORCH_CONFIG TorchConfig.cmake PATH_SUFFIXES Torch share/cmake/Torch)
if(NOT ZTUNE_TORCH_CONFIG)
  message(FATAL_ERROR "libtorch not found: pass -DCMAKE_PREFIX_PATH=$(python -c 'import torch; print(torch.utils.cmake_prefix_path)')")
endif()
get_filename_component(ZTUNE_TORCH_ROOT "${ZTUNE_TORCH_CONFIG}/../../../.." ABSOLUTE)
find_library(ZTUNE_TORCH_CPU_LIBRARY torch_cpu PATHS "${ZTUNE_TORCH_ROOT}/lib" NO_DEFAULT_PATH)
find_library(ZTUNE_C10_LIBRARY c10 PATHS "${ZTUNE_TORCH_ROOT}/lib" NO_DEFAULT_PATH)
if(NOT ZTUNE_TORCH_CPU_LIBRARY OR NOT ZTUNE_C10_LIBRARY)
  message(FATAL_ERROR "libtorch_cpu/libc10 not found under ${ZTUNE_TORCH_ROOT}/lib")
endif()
add_library(ztune_torch_cpu INTERFACE)
target_include_directories(ztune_torch_cpu SYSTEM INTERFACE
  "${ZTUNE_TORCH_ROOT}/include" "${ZTUNE_TORCH_ROOT}/include/torch/csrc/api/include")
target_compile_definitions(ztune_torch_cpu INTERFACE USE_DISTRIBUTED USE_C10D_GLOO USE_RPC USE_TENSORPIPE)
target_link_libraries(ztune_torch_cpu INTERFACE
  "-Wl,--no-as-needed" "${ZTUNE_TORCH_CPU_LIBRARY}" "-Wl,--as-needed" "${ZTUNE_C10_LIBRARY}")
set(TORCH_LIBRARIES ztune_torch_cpu)
message(STATUS "ztune: CPU-only libtorch from ${ZTUNE_TORCH_ROOT}")
