// Run-time binding of the CUDA driver API (libcuda.so.1) and NVRTC (libnvrtc.so.13 / .12).
// The types and entry points are declared here from the public ABI, so the build needs no CUDA headers.
// Versioned symbols (_v2) are the ones cuda.h maps the plain names to since CUDA 12/13.
#pragma once
#include <cstddef>
#include <string>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;
typedef struct CUgraphNode_st *CUgraphNode;
typedef int CUjit_option;

struct CUgraphExecUpdateResultInfo {
  int result;
  CUgraphNode errorNode;
  CUgraphNode errorFromNode;
};

typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_OUT_OF_MEMORY = 2;
constexpr CUresult CUDA_ERROR_NOT_INITIALIZED = 3;
constexpr CUresult CUDA_ERROR_DEINITIALIZED = 4;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
constexpr int NVRTC_SUCCESS = 0;
constexpr int NVRTC_ERROR_COMPILATION = 6;

// X(name, symbol, return, params)
#define CHIMERA_CUDA_FUNCS(X)                                                                                   \
  X(cuInit, "cuInit", CUresult, (unsigned int))                                                                 \
  X(cuDriverGetVersion, "cuDriverGetVersion", CUresult, (int *))                                                \
  X(cuGetErrorName, "cuGetErrorName", CUresult, (CUresult, const char **))                                      \
  X(cuGetErrorString, "cuGetErrorString", CUresult, (CUresult, const char **))                                  \
  X(cuDeviceGetCount, "cuDeviceGetCount", CUresult, (int *))                                                    \
  X(cuDeviceGet, "cuDeviceGet", CUresult, (CUdevice *, int))                                                    \
  X(cuDeviceGetName, "cuDeviceGetName", CUresult, (char *, int, CUdevice))                                      \
  X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", CUresult, (size_t *, CUdevice))                                    \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", CUresult, (int *, int, CUdevice))                             \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", CUresult, (CUcontext *, CUdevice))                    \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", CUresult, (CUcontext))                                                  \
  X(cuCtxSynchronize, "cuCtxSynchronize", CUresult, (void))                                                     \
  X(cuMemGetInfo, "cuMemGetInfo_v2", CUresult, (size_t *, size_t *))                                            \
  X(cuMemAlloc, "cuMemAlloc_v2", CUresult, (CUdeviceptr *, size_t))                                             \
  X(cuMemFree, "cuMemFree_v2", CUresult, (CUdeviceptr))                                                         \
  X(cuMemHostAlloc, "cuMemHostAlloc", CUresult, (void **, size_t, unsigned int))                                \
  X(cuMemFreeHost, "cuMemFreeHost", CUresult, (void *))                                                         \
  X(cuMemsetD8, "cuMemsetD8_v2", CUresult, (CUdeviceptr, unsigned char, size_t))                                \
  X(cuMemsetD32, "cuMemsetD32_v2", CUresult, (CUdeviceptr, unsigned int, size_t))                               \
  X(cuMemsetD8Async, "cuMemsetD8Async", CUresult, (CUdeviceptr, unsigned char, size_t, CUstream))               \
  X(cuMemsetD32Async, "cuMemsetD32Async", CUresult, (CUdeviceptr, unsigned int, size_t, CUstream))              \
  X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", CUresult, (CUdeviceptr, const void *, size_t))                             \
  X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", CUresult, (void *, CUdeviceptr, size_t))                                   \
  X(cuMemcpyDtoD, "cuMemcpyDtoD_v2", CUresult, (CUdeviceptr, CUdeviceptr, size_t))                              \
  X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", CUresult, (CUdeviceptr, const void *, size_t, CUstream))         \
  X(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", CUresult, (void *, CUdeviceptr, size_t, CUstream))               \
  X(cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", CUresult, (CUdeviceptr, CUdeviceptr, size_t, CUstream))          \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx", CUresult, (CUmodule *, const void *, unsigned int, CUjit_option *, void **)) \
  X(cuModuleUnload, "cuModuleUnload", CUresult, (CUmodule))                                                     \
  X(cuModuleGetFunction, "cuModuleGetFunction", CUresult, (CUfunction *, CUmodule, const char *))               \
  X(cuFuncGetAttribute, "cuFuncGetAttribute", CUresult, (int *, int, CUfunction))                               \
  X(cuFuncSetAttribute, "cuFuncSetAttribute", CUresult, (CUfunction, int, int))                                 \
  X(cuLaunchKernel, "cuLaunchKernel", CUresult,                                                                 \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **)) \
  X(cuStreamCreate, "cuStreamCreate", CUresult, (CUstream *, unsigned int))                                     \
  X(cuStreamDestroy, "cuStreamDestroy_v2", CUresult, (CUstream))                                                \
  X(cuStreamSynchronize, "cuStreamSynchronize", CUresult, (CUstream))                                           \
  X(cuStreamBeginCapture, "cuStreamBeginCapture_v2", CUresult, (CUstream, int))                                 \
  X(cuStreamEndCapture, "cuStreamEndCapture", CUresult, (CUstream, CUgraph *))                                  \
  X(cuEventCreate, "cuEventCreate", CUresult, (CUevent *, unsigned int))                                        \
  X(cuEventDestroy, "cuEventDestroy_v2", CUresult, (CUevent))                                                   \
  X(cuEventRecord, "cuEventRecord", CUresult, (CUevent, CUstream))                                              \
  X(cuEventSynchronize, "cuEventSynchronize", CUresult, (CUevent))                                              \
  X(cuGraphDestroy, "cuGraphDestroy", CUresult, (CUgraph))                                                      \
  X(cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags", CUresult, (CUgraphExec *, CUgraph, unsigned long long)) \
  X(cuGraphLaunch, "cuGraphLaunch", CUresult, (CUgraphExec, CUstream))                                          \
  X(cuGraphExecDestroy, "cuGraphExecDestroy", CUresult, (CUgraphExec))                                          \
  X(cuGraphExecUpdate, "cuGraphExecUpdate_v2", CUresult, (CUgraphExec, CUgraph, CUgraphExecUpdateResultInfo *))

#define CHIMERA_NVRTC_FUNCS(X)                                                                                   \
  X(nvrtcVersion, "nvrtcVersion", nvrtcResult, (int *, int *))                                                  \
  X(nvrtcGetErrorString, "nvrtcGetErrorString", const char *, (nvrtcResult))                                    \
  X(nvrtcCreateProgram, "nvrtcCreateProgram", nvrtcResult,                                                      \
    (nvrtcProgram *, const char *, const char *, int, const char *const *, const char *const *))                \
  X(nvrtcDestroyProgram, "nvrtcDestroyProgram", nvrtcResult, (nvrtcProgram *))                                  \
  X(nvrtcCompileProgram, "nvrtcCompileProgram", nvrtcResult, (nvrtcProgram, int, const char *const *))          \
  X(nvrtcGetPTXSize, "nvrtcGetPTXSize", nvrtcResult, (nvrtcProgram, size_t *))                                  \
  X(nvrtcGetPTX, "nvrtcGetPTX", nvrtcResult, (nvrtcProgram, char *))                                            \
  X(nvrtcGetCUBINSize, "nvrtcGetCUBINSize", nvrtcResult, (nvrtcProgram, size_t *))                              \
  X(nvrtcGetCUBIN, "nvrtcGetCUBIN", nvrtcResult, (nvrtcProgram, char *))                                        \
  X(nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize", nvrtcResult, (nvrtcProgram, size_t *))                    \
  X(nvrtcGetProgramLog, "nvrtcGetProgramLog", nvrtcResult, (nvrtcProgram, char *))                              \
  X(nvrtcAddNameExpression, "nvrtcAddNameExpression", nvrtcResult, (nvrtcProgram, const char *const))           \
  X(nvrtcGetLoweredName, "nvrtcGetLoweredName", nvrtcResult, (nvrtcProgram, const char *const, const char **))

struct CudaApi {
#define CHIMERA_DECL(name, sym, ret, params) ret(*name) params = nullptr;
  CHIMERA_CUDA_FUNCS(CHIMERA_DECL)
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent) = nullptr;  // _v2 when present, else the old symbol
  // optional (driver 12.4+): parameter layout of a kernel, used to check launches; null when absent
  CUresult (*cuFuncGetParamInfo)(CUfunction, size_t, size_t *, size_t *) = nullptr;
  // optional (driver 12.0+): TMA descriptors; null when absent
  CUresult (*cuTensorMapEncodeTiled)(void *tensorMap, int dataType, unsigned rank, void *globalAddress,
                                     const unsigned long long *globalDim, const unsigned long long *globalStrides,
                                     const unsigned *boxDim, const unsigned *elementStrides, int interleave, int swizzle,
                                     int l2Promotion, int oobFill) = nullptr;
};
struct NvrtcApi {
  CHIMERA_NVRTC_FUNCS(CHIMERA_DECL)
#undef CHIMERA_DECL
};

struct LoadState {
  bool cudaLoaded = false;
  std::string cudaPath;   // the name or path that loaded
  std::string cudaError;  // why it did not
  bool nvrtcLoaded = false;
  std::string nvrtcPath;
  std::string nvrtcError;
};

extern CudaApi cu;
extern NvrtcApi nvrtc;
extern LoadState loadState;

// Try each candidate in order; returns true when one loaded and every entry point resolved.
bool LoadCuda(const std::string *candidates, size_t n);
bool LoadNvrtc(const std::string *candidates, size_t n);
