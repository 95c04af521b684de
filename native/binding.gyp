{
  # The addon declares the CUDA driver and NVRTC entry points itself and loads libcuda.so.1 and
  # libnvrtc.so.13 (or .12) with dlopen at run time, so it builds without any CUDA headers or libraries.
  "targets": [
    {
      "target_name": "chimera_cuda",
      "sources": ["src/addon.cc", "src/loader.cc", "src/memory.cc", "src/exec.cc", "src/nvrtc.cc", "src/cublaslt.cc", "src/tensormap.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-ldl"]
    }
  ]
}
