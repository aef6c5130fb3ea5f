# Included right after llama.cpp's project() call when scripts/setup.sh builds llama-cpp-python (the GGUF export
# test runs ztune's files in it): the package forces llama.cpp's `common` library on, which only its multimodal
# library (LLAVA_BUILD, off here) uses; left on, it is half of the compile time.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp common library (not used by the text API)" FORCE)
