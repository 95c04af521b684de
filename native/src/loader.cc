// dlopen/dlsym of libcuda and libnvrtc. Nothing here calls into CUDA; addon.cc decides when to load.
#include "loader.h"

#include <dlfcn.h>

CudaApi cu;
NvrtcApi nvrtc;
LoadState loadState;

namespace {

void *OpenFirst(const std::string *candidates, size_t n, std::string *path, std::string *error) {
  std::string errors;
  for (size_t i = 0; i < n; i++) {
    void *h = dlopen(candidates[i].c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) {
      *path = candidates[i];
      return h;
    }
    const char *e = dlerror();
    if (!errors.empty()) errors += "; ";
    errors += e ? e : (candidates[i] + ": not found");
  }
  *error = errors;
  return nullptr;
}

template <typename T>
bool Resolve(void *h, const char *sym, T *out, std::string *error) {
  void *p = dlsym(h, sym);
  if (!p) {
    *error = std::string("missing entry point ") + sym;
    return false;
  }
  *out = reinterpret_cast<T>(p);
  return true;
}

}  // namespace

bool LoadCuda(const std::string *candidates, size_t n) {
  if (loadState.cudaLoaded) return true;
  void *h = OpenFirst(candidates, n, &loadState.cudaPath, &loadState.cudaError);
  if (!h) return false;
  std::string err;
  bool ok = true;
#define CHIMERA_RESOLVE(name, sym, ret, params) ok = ok && Resolve(h, sym, &cu.name, &err);
  CHIMERA_CUDA_FUNCS(CHIMERA_RESOLVE)
#undef CHIMERA_RESOLVE
  if (ok && !Resolve(h, "cuEventElapsedTime_v2", &cu.cuEventElapsedTime, &err)) {
    ok = Resolve(h, "cuEventElapsedTime", &cu.cuEventElapsedTime, &err);
  }
  if (!ok) {
    loadState.cudaError = loadState.cudaPath + ": " + err;
    cu = CudaApi();
    dlclose(h);
    return false;
  }
  cu.cuFuncGetParamInfo = reinterpret_cast<decltype(cu.cuFuncGetParamInfo)>(dlsym(h, "cuFuncGetParamInfo"));
  cu.cuTensorMapEncodeTiled = reinterpret_cast<decltype(cu.cuTensorMapEncodeTiled)>(dlsym(h, "cuTensorMapEncodeTiled"));
  loadState.cudaLoaded = true;
  loadState.cudaError.clear();
  return true;
}

bool LoadNvrtc(const std::string *candidates, size_t n) {
  if (loadState.nvrtcLoaded) return true;
  void *h = OpenFirst(candidates, n, &loadState.nvrtcPath, &loadState.nvrtcError);
  if (!h) return false;
  std::string err;
  bool ok = true;
#define CHIMERA_RESOLVE(name, sym, ret, params) ok = ok && Resolve(h, sym, &nvrtc.name, &err);
  CHIMERA_NVRTC_FUNCS(CHIMERA_RESOLVE)
#undef CHIMERA_RESOLVE
  if (!ok) {
    loadState.nvrtcError = loadState.nvrtcPath + ": " + err;
    nvrtc = NvrtcApi();
    dlclose(h);
    return false;
  }
  loadState.nvrtcLoaded = true;
  loadState.nvrtcError.clear();
  return true;
}
