// Optional cuBLASLt (libcublasLt.so.13 / .12), loaded with dlopen like the driver: a library candidate for
// fp16/bf16 GEMMs that the engine may pick per node where it measures faster than the generated kernel.
// The types, enum values and entry points below are declared from cuBLASLt's public ABI, so the build
// needs no CUDA headers. Descriptors and the heuristic's algorithm are cached per GEMM configuration
// (everything but the pointers), so a call after the first costs one cublasLtMatmul.
#include <dlfcn.h>

#include <cstring>
#include <map>
#include <tuple>

#include "common.h"

namespace {

typedef int cublasStatus_t;
typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque *cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque *cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque *cublasLtMatmulPreference_t;
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};

// enum values (cublasLt.h / library_types.h)
constexpr int kComputeF32 = 68;        // CUBLAS_COMPUTE_32F
constexpr int kR32F = 0;               // CUDA_R_32F
constexpr int kDescComputeType = 0;    // CUBLASLT_MATMUL_DESC_COMPUTE_TYPE (unused: set at create)
constexpr int kDescTransA = 3;         // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kDescTransB = 4;         // CUBLASLT_MATMUL_DESC_TRANSB
constexpr int kDescEpilogue = 7;       // CUBLASLT_MATMUL_DESC_EPILOGUE
constexpr int kDescBiasPointer = 8;    // CUBLASLT_MATMUL_DESC_BIAS_POINTER
constexpr int kLayoutBatchCount = 5;   // CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT
constexpr int kLayoutBatchStride = 6;  // CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET
constexpr int kPrefMaxWorkspace = 1;   // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
constexpr int kPrefAlignA = 5;         // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_{A,B,C,D}_BYTES = 5..8

#define CHIMERA_LT_FUNCS(X)                                                                                     \
  X(create, "cublasLtCreate", cublasStatus_t, (cublasLtHandle_t *))                                            \
  X(getVersion, "cublasLtGetVersion", size_t, ())                                                              \
  X(descCreate, "cublasLtMatmulDescCreate", cublasStatus_t, (cublasLtMatmulDesc_t *, int, int))                \
  X(descDestroy, "cublasLtMatmulDescDestroy", cublasStatus_t, (cublasLtMatmulDesc_t))                          \
  X(descSet, "cublasLtMatmulDescSetAttribute", cublasStatus_t, (cublasLtMatmulDesc_t, int, const void *, size_t)) \
  X(layoutCreate, "cublasLtMatrixLayoutCreate", cublasStatus_t, (cublasLtMatrixLayout_t *, int, uint64_t, uint64_t, int64_t)) \
  X(layoutDestroy, "cublasLtMatrixLayoutDestroy", cublasStatus_t, (cublasLtMatrixLayout_t))                    \
  X(layoutSet, "cublasLtMatrixLayoutSetAttribute", cublasStatus_t, (cublasLtMatrixLayout_t, int, const void *, size_t)) \
  X(prefCreate, "cublasLtMatmulPreferenceCreate", cublasStatus_t, (cublasLtMatmulPreference_t *))              \
  X(prefDestroy, "cublasLtMatmulPreferenceDestroy", cublasStatus_t, (cublasLtMatmulPreference_t))              \
  X(prefSet, "cublasLtMatmulPreferenceSetAttribute", cublasStatus_t, (cublasLtMatmulPreference_t, int, const void *, size_t)) \
  X(heuristic, "cublasLtMatmulAlgoGetHeuristic", cublasStatus_t,                                               \
    (cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, \
     cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t *, int *))       \
  X(matmul, "cublasLtMatmul", cublasStatus_t,                                                                  \
    (cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *, cublasLtMatrixLayout_t, const void *,    \
     cublasLtMatrixLayout_t, const void *, const void *, cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t,  \
     const cublasLtMatmulAlgo_t *, void *, size_t, CUstream))

struct LtApi {
#define CHIMERA_DECL(name, sym, ret, params) ret(*name) params = nullptr;
  CHIMERA_LT_FUNCS(CHIMERA_DECL)
#undef CHIMERA_DECL
};

LtApi lt;
bool ltLoaded = false;
std::string ltPath, ltError;
cublasLtHandle_t ltHandle = nullptr;

// One GEMM configuration in cuBLAS's column-major terms (see Matmul below for the mapping).
struct Config {
  int dtype, opA, opB;
  int64_t rowsA, colsA, ldA, rowsB, colsB, ldB, rowsD, colsD, ldD;
  int64_t batch, strideA, strideB, strideD;
  int epilogue;
  uint32_t alignA, alignB, alignC, alignD;
  uint64_t workspace;
  auto key() const {
    return std::make_tuple(dtype, opA, opB, rowsA, colsA, ldA, rowsB, colsB, ldB, rowsD, colsD, ldD, batch, strideA,
                           strideB, strideD, epilogue, alignA, alignB, alignC, alignD, workspace);
  }
  bool operator<(const Config &o) const { return key() < o.key(); }
};

struct Prepared {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  cublasStatus_t status = 0;  // non-zero: no algorithm for this configuration
};

std::map<Config, Prepared> prepared;

[[noreturn]] void ThrowLt(Napi::Env env, const char *call, cublasStatus_t s) {
  Napi::Error e = Napi::Error::New(env, std::string(call) + " failed: cuBLAS status " + std::to_string(s));
  e.Set("lib", "cublasLt");
  e.Set("call", call);
  e.Set("status", Napi::Number::New(env, s));
  throw e;
}

void CheckLt(Napi::Env env, const char *call, cublasStatus_t s) {
  if (s != 0) ThrowLt(env, call, s);
}

uint32_t Alignment(uint64_t p) {
  uint32_t a = 256;
  while (a > 1 && (p % a) != 0) a >>= 1;
  return a;
}

cublasLtMatrixLayout_t Layout(Napi::Env env, int dtype, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  CheckLt(env, "cublasLtMatrixLayoutCreate", lt.layoutCreate(&l, dtype, rows, cols, ld));
  if (batch > 1) {
    int32_t count = static_cast<int32_t>(batch);
    CheckLt(env, "cublasLtMatrixLayoutSetAttribute", lt.layoutSet(l, kLayoutBatchCount, &count, sizeof(count)));
    CheckLt(env, "cublasLtMatrixLayoutSetAttribute", lt.layoutSet(l, kLayoutBatchStride, &stride, sizeof(stride)));
  }
  return l;
}

Prepared &Prepare(Napi::Env env, const Config &c, bool withBias) {
  auto it = prepared.find(c);
  if (it != prepared.end()) return it->second;
  Prepared p;
  CheckLt(env, "cublasLtMatmulDescCreate", lt.descCreate(&p.desc, kComputeF32, kR32F));
  CheckLt(env, "cublasLtMatmulDescSetAttribute", lt.descSet(p.desc, kDescTransA, &c.opA, sizeof(int)));
  CheckLt(env, "cublasLtMatmulDescSetAttribute", lt.descSet(p.desc, kDescTransB, &c.opB, sizeof(int)));
  uint32_t epi = static_cast<uint32_t>(c.epilogue);
  CheckLt(env, "cublasLtMatmulDescSetAttribute", lt.descSet(p.desc, kDescEpilogue, &epi, sizeof(epi)));
  if (withBias) {
    // the heuristic may look at the bias pointer's presence; the real pointer is set per call
    const void *dummy = reinterpret_cast<const void *>(static_cast<uintptr_t>(256));
    CheckLt(env, "cublasLtMatmulDescSetAttribute", lt.descSet(p.desc, kDescBiasPointer, &dummy, sizeof(dummy)));
  }
  p.a = Layout(env, c.dtype, c.rowsA, c.colsA, c.ldA, c.batch, c.strideA);
  p.b = Layout(env, c.dtype, c.rowsB, c.colsB, c.ldB, c.batch, c.strideB);
  p.d = Layout(env, c.dtype, c.rowsD, c.colsD, c.ldD, c.batch, c.strideD);
  cublasLtMatmulPreference_t pref = nullptr;
  CheckLt(env, "cublasLtMatmulPreferenceCreate", lt.prefCreate(&pref));
  lt.prefSet(pref, kPrefMaxWorkspace, &c.workspace, sizeof(c.workspace));
  const uint32_t aligns[4] = {c.alignA, c.alignB, c.alignC, c.alignD};
  for (int i = 0; i < 4; i++) lt.prefSet(pref, kPrefAlignA + i, &aligns[i], sizeof(uint32_t));
  cublasLtMatmulHeuristicResult_t r;
  std::memset(&r, 0, sizeof(r));
  int found = 0;
  cublasStatus_t s = lt.heuristic(ltHandle, p.desc, p.a, p.b, p.d, p.d, pref, 1, &r, &found);
  lt.prefDestroy(pref);
  if (s == 0 && found > 0 && r.state == 0) {
    p.algo = r.algo;
    p.workspace = r.workspaceSize;
  } else {
    p.status = s != 0 ? s : (r.state != 0 ? r.state : 15 /* CUBLAS_STATUS_NOT_SUPPORTED */);
  }
  return prepared.emplace(c, p).first->second;
}

int64_t I(const Napi::Object &o, const char *k) { return o.Get(k).As<Napi::Number>().Int64Value(); }
uint64_t Ptr(Napi::Env env, const Napi::Object &o, const char *k) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return 0;
  bool lossless = true;
  uint64_t p = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowUsage(env, std::string("cublasLt: pointer ") + k + " out of range");
  return p;
}

// ltLoad(candidates) -> {loaded, path, error, version}; never throws for a missing library.
Napi::Value LtLoad(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!ltLoaded && info[0].IsArray()) {
    Napi::Array a = info[0].As<Napi::Array>();
    std::string errors;
    for (uint32_t i = 0; i < a.Length() && !ltLoaded; i++) {
      std::string name = a.Get(i).As<Napi::String>().Utf8Value();
      void *h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        const char *e = dlerror();
        errors += (errors.empty() ? "" : "; ") + std::string(e ? e : name + ": not found");
        continue;
      }
      bool ok = true;
      std::string missing;
#define CHIMERA_RESOLVE(name_, sym, ret, params)                            \
  if (ok) {                                                                  \
    void *f = dlsym(h, sym);                                                 \
    if (!f) {                                                                \
      ok = false;                                                            \
      missing = sym;                                                         \
    } else {                                                                 \
      lt.name_ = reinterpret_cast<decltype(lt.name_)>(f);                    \
    }                                                                        \
  }
      CHIMERA_LT_FUNCS(CHIMERA_RESOLVE)
#undef CHIMERA_RESOLVE
      if (!ok) {
        errors += (errors.empty() ? "" : "; ") + name + ": missing entry point " + missing;
        lt = LtApi();
        dlclose(h);
        continue;
      }
      ltLoaded = true;
      ltPath = name;
      ltError.clear();
    }
    if (!ltLoaded) ltError = errors;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("loaded", ltLoaded);
  r.Set("path", ltPath);
  r.Set("error", ltError);
  r.Set("version", ltLoaded ? static_cast<double>(lt.getVersion()) : 0.0);
  return r;
}

// ltMatmul(stream, spec) -> undefined. Row-major C[M,N] = act(alpha * op(A) op(B) + bias[N]) + beta * R,
// computed as the column-major product D^T[N,M] = op(B^T) op(A^T): cuBLAS's "A" is our B, its "B" our A.
// spec: {dtype (cudaDataType), transA, transB, M, N, K, lda, ldb, ldc, batch, strideA, strideB, strideC,
// alpha, beta, epilogue (cublasLtEpilogue_t), a, b, c (beta's matrix, may equal d), d, bias?, workspace,
// workspaceBytes} with pointers as BigInt. Throws {lib:'cublasLt', status} when cuBLASLt refuses.
Napi::Value LtMatmul(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!ltLoaded) ThrowUsage(env, "cuBLASLt is not loaded: " + ltError);
  RequireContext(env);
  if (!ltHandle) CheckLt(env, "cublasLtCreate", lt.create(&ltHandle));
  CUstream stream = ToStream(env, info[0]);
  Napi::Object s = info[1].As<Napi::Object>();
  const int64_t M = I(s, "M"), N = I(s, "N"), K = I(s, "K");
  const bool tA = s.Get("transA").ToBoolean(), tB = s.Get("transB").ToBoolean();
  const uint64_t a = Ptr(env, s, "a"), b = Ptr(env, s, "b"), c = Ptr(env, s, "c"), d = Ptr(env, s, "d");
  const uint64_t bias = Ptr(env, s, "bias"), ws = Ptr(env, s, "workspace");
  Config cfg{};
  cfg.dtype = static_cast<int>(I(s, "dtype"));
  // cuBLAS "A" = our B: stored column-major as [N,K] (ld ldb) when B is row-major [K,N]; [K,N] when transB
  cfg.opA = tB ? 1 : 0;
  cfg.rowsA = tB ? K : N;
  cfg.colsA = tB ? N : K;
  cfg.ldA = I(s, "ldb");
  cfg.strideA = I(s, "strideB");
  // cuBLAS "B" = our A: column-major [K,M] (ld lda) when A is row-major [M,K]; [M,K] when transA
  cfg.opB = tA ? 1 : 0;
  cfg.rowsB = tA ? M : K;
  cfg.colsB = tA ? K : M;
  cfg.ldB = I(s, "lda");
  cfg.strideB = I(s, "strideA");
  cfg.rowsD = N;
  cfg.colsD = M;
  cfg.ldD = I(s, "ldc");
  cfg.strideD = I(s, "strideC");
  cfg.batch = I(s, "batch");
  cfg.epilogue = static_cast<int>(I(s, "epilogue"));
  cfg.alignA = Alignment(b);
  cfg.alignB = Alignment(a);
  cfg.alignC = Alignment(c);
  cfg.alignD = Alignment(d);
  cfg.workspace = static_cast<uint64_t>(I(s, "workspaceBytes"));
  Prepared &p = Prepare(env, cfg, bias != 0);
  if (p.status != 0) ThrowLt(env, "cublasLtMatmulAlgoGetHeuristic", p.status);
  if (bias) {
    const void *bp = reinterpret_cast<const void *>(static_cast<uintptr_t>(bias));
    CheckLt(env, "cublasLtMatmulDescSetAttribute", lt.descSet(p.desc, kDescBiasPointer, &bp, sizeof(bp)));
  }
  const float alpha = static_cast<float>(s.Get("alpha").As<Napi::Number>().DoubleValue());
  const float beta = static_cast<float>(s.Get("beta").As<Napi::Number>().DoubleValue());
  CheckLt(env, "cublasLtMatmul",
          lt.matmul(ltHandle, p.desc, &alpha, reinterpret_cast<const void *>(static_cast<uintptr_t>(b)), p.a,
                    reinterpret_cast<const void *>(static_cast<uintptr_t>(a)), p.b, &beta,
                    reinterpret_cast<const void *>(static_cast<uintptr_t>(c ? c : d)), p.d,
                    reinterpret_cast<void *>(static_cast<uintptr_t>(d)), p.d, &p.algo,
                    reinterpret_cast<void *>(static_cast<uintptr_t>(ws)), p.workspace, stream));
  return env.Undefined();
}

}  // namespace

void InitCublasLt(Napi::Env env, Napi::Object exports) {
  (void)kDescComputeType;
  exports.Set("ltLoad", Napi::Function::New(env, LtLoad));
  exports.Set("ltMatmul", Napi::Function::New(env, LtMatmul));
}
