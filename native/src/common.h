// Shared helpers of the addon: typed errors, per-environment data, argument unwrapping.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "loader.h"

// Constructors of the wrapped classes, kept per environment (worker threads each get their own).
struct AddonData {
  Napi::FunctionReference deviceBuffer, hostBuffer, module, function, stream, event, graph, graphExec;
  // live native objects by kind, for leak checks
  int64_t liveDeviceBuffers = 0, liveHostBuffers = 0, liveModules = 0, liveStreams = 0, liveEvents = 0,
          liveGraphs = 0, liveGraphExecs = 0;
  int64_t deviceBytes = 0;  // bytes held by live DeviceBuffers
};

inline AddonData *Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// Throws a JS Error naming the call and the driver's error name and string. Properties: lib ('cuda'),
// call, status (number), statusName, statusString.
[[noreturn]] void ThrowCuda(Napi::Env env, const char *call, CUresult r);
[[noreturn]] void ThrowNvrtc(Napi::Env env, const char *call, nvrtcResult r);
[[noreturn]] void ThrowUsage(Napi::Env env, const std::string &msg);

inline void CheckCu(Napi::Env env, const char *call, CUresult r) {
  if (r != CUDA_SUCCESS) ThrowCuda(env, call, r);
}
inline void CheckNvrtc(Napi::Env env, const char *call, nvrtcResult r) {
  if (r != NVRTC_SUCCESS) ThrowNvrtc(env, call, r);
}
// Throws unless libcuda is loaded and a context is current (init() was called).
void RequireContext(Napi::Env env);
// True once init() succeeded: finalizers free resources only then.
bool HaveContext();

// A byte count or offset from a JS number (non-negative integer below 2^53).
size_t ToSize(Napi::Env env, const Napi::Value &v, const char *what);
// A CUstream from null/undefined (the legacy default stream) or a Stream object.
CUstream ToStream(Napi::Env env, const Napi::Value &v);
// A device pointer from a DeviceBuffer object plus a byte offset, checked against its size for n bytes.
CUdeviceptr ToDevicePtr(Napi::Env env, const Napi::Value &buf, size_t offset, size_t n);

void InitMemory(Napi::Env env, Napi::Object exports, AddonData *data);
void InitExec(Napi::Env env, Napi::Object exports, AddonData *data);
void InitNvrtc(Napi::Env env, Napi::Object exports);
void InitCublasLt(Napi::Env env, Napi::Object exports);
void InitTensorMap(Napi::Env env, Napi::Object exports);
