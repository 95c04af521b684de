// Module entry: library loading, driver init, device queries, errors. Policy (which library paths to try,
// which device to use, what to do when CUDA is absent) lives in TypeScript (src/runtime).
#include <cmath>
#include <vector>

#include "common.h"

namespace {

CUcontext g_ctx = nullptr;
CUdevice g_dev = 0;
int g_ordinal = -1;

std::string CuName(CUresult r) {
  const char *s = nullptr;
  if (cu.cuGetErrorName && cu.cuGetErrorName(r, &s) == CUDA_SUCCESS && s) return s;
  return "CUDA_ERROR_" + std::to_string(r);
}
std::string CuString(CUresult r) {
  const char *s = nullptr;
  if (cu.cuGetErrorString && cu.cuGetErrorString(r, &s) == CUDA_SUCCESS && s) return s;
  return "unknown error";
}

std::vector<std::string> ToStrings(Napi::Env env, const Napi::Value &v) {
  std::vector<std::string> out;
  if (!v.IsArray()) ThrowUsage(env, "expected an array of library names");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

// load({cuda: [...names], nvrtc: [...names]}) -> state; never throws for a missing library.
Napi::Value Load(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  if (o.Has("cuda")) {
    auto c = ToStrings(env, o.Get("cuda"));
    LoadCuda(c.data(), c.size());
  }
  if (o.Has("nvrtc")) {
    auto c = ToStrings(env, o.Get("nvrtc"));
    LoadNvrtc(c.data(), c.size());
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("cudaLoaded", loadState.cudaLoaded);
  r.Set("cudaPath", loadState.cudaPath);
  r.Set("cudaError", loadState.cudaError);
  r.Set("nvrtcLoaded", loadState.nvrtcLoaded);
  r.Set("nvrtcPath", loadState.nvrtcPath);
  r.Set("nvrtcError", loadState.nvrtcError);
  return r;
}

void RequireCuda(Napi::Env env) {
  if (!loadState.cudaLoaded) ThrowUsage(env, "libcuda is not loaded: " + loadState.cudaError);
}

// driverInfo() -> {initStatus, initStatusName, initStatusString, driverVersion, deviceCount}; cuInit
// failing (no device, no driver) is reported, not thrown.
Napi::Value DriverInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireCuda(env);
  Napi::Object r = Napi::Object::New(env);
  CUresult s = cu.cuInit(0);
  r.Set("initStatus", s);
  r.Set("initStatusName", CuName(s));
  r.Set("initStatusString", CuString(s));
  int version = 0, count = 0;
  if (cu.cuDriverGetVersion(&version) == CUDA_SUCCESS) r.Set("driverVersion", version);
  if (s == CUDA_SUCCESS) CheckCu(env, "cuDeviceGetCount", cu.cuDeviceGetCount(&count));
  r.Set("deviceCount", count);
  return r;
}

int Attr(Napi::Env env, int attr, CUdevice d) {
  int v = 0;
  CheckCu(env, "cuDeviceGetAttribute", cu.cuDeviceGetAttribute(&v, attr, d));
  return v;
}

// deviceInfo(ordinal) -> properties read off the device
Napi::Value DeviceInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireCuda(env);
  CUdevice d;
  CheckCu(env, "cuInit", cu.cuInit(0));
  CheckCu(env, "cuDeviceGet", cu.cuDeviceGet(&d, info[0].As<Napi::Number>().Int32Value()));
  char name[256] = {0};
  CheckCu(env, "cuDeviceGetName", cu.cuDeviceGetName(name, sizeof(name) - 1, d));
  size_t total = 0;
  CheckCu(env, "cuDeviceTotalMem_v2", cu.cuDeviceTotalMem(&total, d));
  Napi::Object r = Napi::Object::New(env);
  r.Set("name", name);
  r.Set("totalMemory", static_cast<double>(total));
  r.Set("major", Attr(env, 75, d));
  r.Set("minor", Attr(env, 76, d));
  r.Set("smCount", Attr(env, 16, d));
  r.Set("l2Bytes", Attr(env, 38, d));
  r.Set("maxThreadsPerBlock", Attr(env, 1, d));
  r.Set("warpSize", Attr(env, 10, d));
  r.Set("sharedPerBlock", Attr(env, 8, d));
  r.Set("sharedPerBlockOptin", Attr(env, 97, d));
  r.Set("sharedPerSM", Attr(env, 81, d));
  r.Set("clockKHz", Attr(env, 13, d));
  r.Set("memoryClockKHz", Attr(env, 36, d));
  r.Set("memoryBusBits", Attr(env, 37, d));
  return r;
}

// init(ordinal): retain the device's primary context and make it current. Idempotent per ordinal.
Napi::Value InitDevice(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireCuda(env);
  int ordinal = info[0].As<Napi::Number>().Int32Value();
  if (g_ctx && ordinal != g_ordinal) ThrowUsage(env, "already initialized on device " + std::to_string(g_ordinal));
  if (!g_ctx) {
    CheckCu(env, "cuInit", cu.cuInit(0));
    CheckCu(env, "cuDeviceGet", cu.cuDeviceGet(&g_dev, ordinal));
    CUcontext ctx = nullptr;
    CheckCu(env, "cuDevicePrimaryCtxRetain", cu.cuDevicePrimaryCtxRetain(&ctx, g_dev));
    g_ctx = ctx;
    g_ordinal = ordinal;
  }
  CheckCu(env, "cuCtxSetCurrent", cu.cuCtxSetCurrent(g_ctx));
  return env.Undefined();
}

Napi::Value MemInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireContext(env);
  size_t free = 0, total = 0;
  CheckCu(env, "cuMemGetInfo_v2", cu.cuMemGetInfo(&free, &total));
  Napi::Object r = Napi::Object::New(env);
  r.Set("free", static_cast<double>(free));
  r.Set("total", static_cast<double>(total));
  return r;
}

Napi::Value Synchronize(const Napi::CallbackInfo &info) {
  RequireContext(info.Env());
  CheckCu(info.Env(), "cuCtxSynchronize", cu.cuCtxSynchronize());
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  AddonData *d = Data(env);
  Napi::Object r = Napi::Object::New(env);
  r.Set("deviceBuffers", static_cast<double>(d->liveDeviceBuffers));
  r.Set("deviceBytes", static_cast<double>(d->deviceBytes));
  r.Set("hostBuffers", static_cast<double>(d->liveHostBuffers));
  r.Set("modules", static_cast<double>(d->liveModules));
  r.Set("streams", static_cast<double>(d->liveStreams));
  r.Set("events", static_cast<double>(d->liveEvents));
  r.Set("graphs", static_cast<double>(d->liveGraphs));
  r.Set("graphExecs", static_cast<double>(d->liveGraphExecs));
  return r;
}

}  // namespace

void ThrowCuda(Napi::Env env, const char *call, CUresult r) {
  std::string name = CuName(r), str = CuString(r);
  Napi::Error e = Napi::Error::New(env, std::string(call) + " failed: " + name + " (" + str + ")");
  e.Set("lib", "cuda");
  e.Set("call", call);
  e.Set("status", static_cast<double>(r));
  e.Set("statusName", name);
  e.Set("statusString", str);
  throw e;
}

void ThrowNvrtc(Napi::Env env, const char *call, nvrtcResult r) {
  std::string str = nvrtc.nvrtcGetErrorString ? nvrtc.nvrtcGetErrorString(r) : "unknown";
  Napi::Error e = Napi::Error::New(env, std::string(call) + " failed: " + str);
  e.Set("lib", "nvrtc");
  e.Set("call", call);
  e.Set("status", static_cast<double>(r));
  e.Set("statusName", str);
  e.Set("statusString", str);
  throw e;
}

void ThrowUsage(Napi::Env env, const std::string &msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("lib", "usage");
  throw e;
}

bool HaveContext() { return loadState.cudaLoaded && g_ctx != nullptr; }

void RequireContext(Napi::Env env) {
  if (!loadState.cudaLoaded) ThrowUsage(env, "libcuda is not loaded: " + loadState.cudaError);
  if (!g_ctx) ThrowUsage(env, "CUDA is not initialized: call init(device) first");
}

size_t ToSize(Napi::Env env, const Napi::Value &v, const char *what) {
  if (v.IsBigInt()) {
    bool lossless = true;
    uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowUsage(env, std::string(what) + " is out of range");
    return static_cast<size_t>(u);
  }
  if (!v.IsNumber()) ThrowUsage(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != std::floor(d) || d > 9007199254740991.0) {
    ThrowUsage(env, std::string(what) + " must be a non-negative integer, got " + std::to_string(d));
  }
  return static_cast<size_t>(d);
}

Napi::Object ModuleInit(Napi::Env env, Napi::Object exports) {
  AddonData *data = new AddonData();
  env.SetInstanceData(data);
  exports.Set("load", Napi::Function::New(env, Load));
  exports.Set("driverInfo", Napi::Function::New(env, DriverInfo));
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfo));
  exports.Set("init", Napi::Function::New(env, InitDevice));
  exports.Set("memInfo", Napi::Function::New(env, MemInfo));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("stats", Napi::Function::New(env, Stats));
  InitMemory(env, exports, data);
  InitExec(env, exports, data);
  InitNvrtc(env, exports);
  InitCublasLt(env, exports);
  InitTensorMap(env, exports);
  return exports;
}

NODE_API_MODULE(chimera_cuda, ModuleInit)
