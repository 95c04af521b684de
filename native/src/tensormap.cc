// TMA descriptors (CUtensorMap, 128 bytes) for kernels that load tiles with cp.async.bulk.tensor. The
// engine encodes one per operand once the operand's address is known and uploads it; the kernel takes a
// pointer to it (kernels here take 8-byte parameters only).
#include <cstring>
#include <vector>

#include "common.h"

namespace {

// encodeTensorMap(address: bigint, dataType, dims[], stridesBytes[], box[], swizzle, l2Promotion) -> Uint8Array(128)
// dims and box innermost first; stridesBytes has rank-1 entries (dims 1..rank-1). dataType, swizzle and
// l2Promotion are CUtensorMapDataType / CUtensorMapSwizzle / CUtensorMapL2promotion values; out-of-bounds
// elements read as zero.
Napi::Value EncodeTensorMap(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!cu.cuTensorMapEncodeTiled) ThrowUsage(env, "this CUDA driver has no cuTensorMapEncodeTiled (needs CUDA 12+)");
  bool lossless = true;
  const uint64_t addr = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  const int dataType = info[1].As<Napi::Number>().Int32Value();
  auto u64s = [&](const Napi::Value &v) {
    std::vector<unsigned long long> out;
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) out.push_back(static_cast<unsigned long long>(a.Get(i).As<Napi::Number>().Int64Value()));
    return out;
  };
  std::vector<unsigned long long> dims = u64s(info[2]), strides = u64s(info[3]), box64 = u64s(info[4]);
  const unsigned rank = static_cast<unsigned>(dims.size());
  if (rank < 1 || rank > 5 || strides.size() != rank - 1 || box64.size() != rank) ThrowUsage(env, "encodeTensorMap: rank 1..5 with rank-1 strides and rank box dims");
  std::vector<unsigned> box(box64.begin(), box64.end()), elemStrides(rank, 1);
  const int swizzle = info[5].As<Napi::Number>().Int32Value();
  const int l2 = info[6].As<Napi::Number>().Int32Value();
  alignas(64) uint64_t map[16];
  std::memset(map, 0, sizeof(map));
  CheckCu(env, "cuTensorMapEncodeTiled",
          cu.cuTensorMapEncodeTiled(map, dataType, rank, reinterpret_cast<void *>(static_cast<uintptr_t>(addr)), dims.data(),
                                    strides.data(), box.data(), elemStrides.data(), 0, swizzle, l2, 0));
  Napi::Uint8Array out = Napi::Uint8Array::New(env, sizeof(map));
  std::memcpy(out.Data(), map, sizeof(map));
  return out;
}

}  // namespace

void InitTensorMap(Napi::Env env, Napi::Object exports) {
  exports.Set("encodeTensorMap", Napi::Function::New(env, EncodeTensorMap));
}
