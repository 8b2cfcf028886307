/* test_cuda.c — the CUDA backend against the reference (kernels/ref.c) and
 * against HuggingFace golden outputs. CTest label `cuda`; where no CUDA
 * device exists (or the build has no CUDA) it prints "SKIP: ..." and exits
 * 77, which CTest reports as skipped, never as passed.
 *
 * With a device:
 *  - the ops: test_ops.c runs its whole case list on every CUDA variant
 *    (native f32 / bf16 / f16 matmuls, cuBLAS f32 / bf16) with the CPU's
 *    guard bytes, NaN poisoning and tolerances (one op-test list for every
 *    backend); this program keeps what is CUDA's own:
 *  - the executor with the CPU as fallback (a declined node in the middle:
 *    transfers both ways) and a fully supported graph run three times with new
 *    inputs (eager, CUDA-graph capture, replay), each against the reference;
 *  - every encoder fixture through the public API with device "cuda": the
 *    padded batch within 1e-4 of transformers in f32 (as test_encoders), three
 *    runs; with bf16 / f16 matmuls max |got - want| / max |want| <= 2e-2 and
 *    the same argmax wherever the golden top two are further apart than that.
 * Without a device it still checks that "cuda" is refused with a message. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu/cpu.h"
#include "kernels/backend.h"
#include "senti.h"
#include "testutil.h"
#ifdef SENTI_HAVE_CUDA
#include "cuda/cuda.h"
#endif

#ifndef SENTI_HAVE_CUDA
int main(void) {
    senti_model_opts o = senti_model_opts_defaults();
    o.device = "cuda";
    if (senti_model_load_opts(".", &o) || !strstr(senti_last_error(), "not available")) {
        printf("FAIL: a build without CUDA accepted device 'cuda' (%s)\n", senti_last_error());
        return 1;
    }
    printf("SKIP: no CUDA device (built with SENTI_CUDA=OFF)\n");
    return 77;
}
#else
#include <jansson.h>

#define F32 SENTI_TYPE_F32
#define F16 SENTI_TYPE_F16
#define BF16 SENTI_TYPE_BF16
#define I32 SENTI_TYPE_I32
#define Q8 SENTI_TYPE_Q8_0
#define Q4 SENTI_TYPE_Q4_0

/* ---- backends --------------------------------------------------------------------- */

#define N_BE 5
static const struct {
    const char *name, *matmul, *dtype;
    bool half; /* matmuls round operands to 16 bits */
} BE[N_BE] = {
    {"native-f32", "native", "f32", false}, {"native-bf16", "native", "bf16", true},
    {"native-f16", "native", "f16", true},  {"cublas-f32", "cublas", "f32", false},
    {"cublas-bf16", "cublas", "bf16", true},
};
static senti_backend *g_ref, *g_be[N_BE];
static uint64_t g_seed;

static senti_backend *cuda_with(const char *matmul, const char *dtype) {
    setenv("SENTI_MATMUL", matmul, 1);
    setenv("SENTI_CUDA_DTYPE", dtype, 1);
    senti_backend *be = senti_backend_cuda_init("cuda");
    unsetenv("SENTI_MATMUL");
    unsetenv("SENTI_CUDA_DTYPE");
    return be;
}

/* ---- random data (splitmix64) ------------------------------------------------------ */

typedef struct { uint64_t s; } rng_t;
static uint64_t rng_u64(rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unif(rng_t *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

/* ---- comparison ----------------------------------------------------------------------- */

static double node_err(const senti_tensor *t, const float *got, const float *want) {
    const int64_t n = senti_nelements(t);
    double ss = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)want[i] * want[i];
    const double rms = n ? sqrt(ss / (double)n) : 0;
    for (int64_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]) / (fabs(want[i]) + rms + 1e-6);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/* ---- the executor: fallback transfers, capture and replay ----------------------------------- */

/* y = gelu(x W^T + b) [5, 64]; declined: q = cpy(y, q8_0); out = softmax(x2 q^T) [5, 5] */
static senti_tensor *build_mixed(senti_graph *g, senti_tensor **x, const float *w, const float *bias, bool declined) {
    *x = graph_new_tensor_2d(g, F32, 5, 64);
    senti_tensor *W = graph_new_tensor_2d(g, F32, 64, 64), *B = graph_new_tensor_1d(g, F32, 64);
    W->data = (void *)w, B->data = (void *)bias;
    W->flags = B->flags = SENTI_TFLAG_WEIGHT;
    senti_tensor *y = op_gelu(g, op_add(g, op_matmul(g, *x, W, false, true), B));
    senti_tensor *q = declined ? op_cpy(g, y, Q8) : y;
    senti_tensor *o = op_softmax(g, op_matmul(g, *x, q, false, true), NULL, 0.5f);
    graph_set_output(o);
    return o;
}

START_TEST(test_exec) {
    rng_t r = {g_seed ^ 77};
    float *w = malloc(64 * 64 * 4), *bias = malloc(64 * 4);
    for (int i = 0; i < 64 * 64; i++) w[i] = (float)(rng_unif(&r) - 0.5) * 0.3f;
    for (int i = 0; i < 64; i++) bias[i] = (float)(rng_unif(&r) - 0.5);
    senti_backend *cpu = senti_backend_cpu_init(2);
    for (int declined = 0; declined < 2; declined++) {
        senti_exec *ex = exec_init(g_be[0], cpu), *er = exec_init(g_ref, NULL);
        for (int run = 0; run < 3; run++) {
            senti_graph *g1 = graph_init(), *g2 = graph_init();
            senti_tensor *x1, *x2;
            senti_tensor *o1 = build_mixed(g1, &x1, w, bias, declined), *o2 = build_mixed(g2, &x2, w, bias, declined);
            ck_assert(exec_prepare(ex, g1) == SENTI_OK && exec_prepare(er, g2) == SENTI_OK);
            for (int i = 0; i < 5 * 64; i++) ((float *)x1->data)[i] = ((float *)x2->data)[i] = (float)rng_unif(&r) - 0.5f;
            ck_assert_msg(exec_compute(ex, g1) == SENTI_OK, "%s", senti_last_error());
            ck_assert_msg(exec_compute(er, g2) == SENTI_OK, "%s", senti_last_error());
            const double e = node_err(o2, o1->data, o2->data);
            ck_assert_msg(e <= (declined ? 1e-2 : 1e-5), "declined=%d run %d: err %g", declined, run, e);
            graph_free(g1), graph_free(g2);
        }
        exec_free(ex), exec_free(er);
    }
    senti_backend_free(cpu);
    free(w), free(bias);
}
END_TEST

/* ---- golden encoders on the device ------------------------------------------------------------ */

static char g_root[2048];

static int32_t *ints_2d(json_t *rows, int64_t B, int64_t T) {
    int32_t *v = calloc((size_t)(B * T), sizeof *v);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            v[b * T + t] = (int32_t)json_integer_value(json_array_get(json_array_get(rows, (size_t)b), (size_t)t));
    return v;
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return k;
}

/* as test_encoders: max |a - b| / max(|b|, 1e-2 max|b|) over kept rows */
static double gold_err(const float *a, const float *b, int64_t n, const int32_t *keep, int64_t row) {
    double mx = 0, worst = 0;
    for (int64_t i = 0; i < n; i++)
        if (!keep || keep[i / row]) mx = fmax(mx, fabs(b[i]));
    const double fl = fmax(1e-2 * mx, 1e-30);
    for (int64_t i = 0; i < n; i++) {
        if (keep && !keep[i / row]) continue;
        const double e = fabs((double)a[i] - b[i]) / fmax(fabs(b[i]), fl);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/* max |a - b| / max |b| over kept rows: the bound for 16-bit matmuls */
static double gold_err_norm(const float *a, const float *b, int64_t n, const int32_t *keep, int64_t row) {
    double mx = 0, worst = 0;
    for (int64_t i = 0; i < n; i++)
        if (!keep || keep[i / row]) mx = fmax(mx, fabs(b[i])), worst = fmax(worst, fabs((double)a[i] - b[i]));
    return isnan(worst) ? INFINITY : worst / fmax(mx, 1e-30);
}

/* the argmax of a row agrees wherever the golden top two differ by more than
 * twice the allowed error */
static void check_argmax(const char *name, const float *got, const float *want, int64_t row, double slack) {
    const int64_t k = argmax(want, row);
    double second = -INFINITY;
    for (int64_t i = 0; i < row; i++)
        if (i != k) second = fmax(second, want[i]);
    if (want[k] - second > 2 * slack) ck_assert_msg(argmax(got, row) == k, "%s: argmax differs", name);
}

static void golden_dir(const char *name, const char *dtype, double tol) {
    char dir[2400], p[2500];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/%s", g_root, name);
    snprintf(p, sizeof p, "%s/golden.json", dir);
    json_error_t jerr;
    json_t *gold = json_load_file(p, 0, &jerr);
    ck_assert_msg(gold != NULL, "%s: %s", p, jerr.text);
    setenv("SENTI_CUDA_DTYPE", dtype, 1);
    senti_model_opts o = senti_model_opts_defaults();
    o.device = "cuda", o.n_threads = 2;
    senti_model *m = senti_model_load_opts(dir, &o);
    unsetenv("SENTI_CUDA_DTYPE");
    ck_assert_msg(m != NULL, "%s: %s", name, senti_last_error());
    const senti_model_head head = senti_model_get_head(m);
    json_t *batch = json_object_get(gold, "batch"), *bids = json_object_get(batch, "input_ids");
    const int64_t B = (int64_t)json_array_size(bids), T = (int64_t)json_array_size(json_array_get(bids, 0));
    int32_t *ids = ints_2d(bids, B, T), *mask = ints_2d(json_object_get(batch, "attention_mask"), B, T);
    json_t *bt = json_object_get(batch, "token_type_ids");
    int32_t *types = bt ? ints_2d(bt, B, T) : NULL;
    json_t *want = json_object_get(json_object_get(gold, "outputs"),
                                   head == SENTI_HEAD_BASE ? "last_hidden_state" : "logits");
    json_t *wd = json_object_get(want, "data");
    const int64_t n = (int64_t)json_array_size(wd);
    float *wv = malloc((size_t)n * sizeof *wv);
    for (int64_t i = 0; i < n; i++) wv[i] = (float)json_number_value(json_array_get(wd, (size_t)i));
    json_t *ws = json_object_get(want, "shape");
    const int64_t row = json_integer_value(json_array_get(ws, json_array_size(ws) - 1));
    const bool per_token = head != SENTI_HEAD_SEQUENCE_CLASSIFICATION;
    for (int run = 0; run < 3; run++) { /* eager, captured, replayed */
        float *out = NULL;
        int64_t shape[3];
        int nd;
        ck_assert_msg(senti_model_forward(m, ids, types, mask, B, T, &out, shape, &nd) == SENTI_OK, "%s: %s", name,
                      senti_last_error());
        const bool f32 = strcmp(dtype, "f32") == 0;
        const double e = f32 ? gold_err(out, wv, n, per_token ? mask : NULL, row)
                             : gold_err_norm(out, wv, n, per_token ? mask : NULL, row);
        printf("golden %s %s run %d: %s %.3g\n", name, dtype, run, f32 ? "max relative error" : "max error / max", e);
        ck_assert_msg(e <= tol, "%s (%s, run %d): error %g > %g", name, dtype, run, e, tol);
        if (!f32 && head != SENTI_HEAD_BASE) {
            double mx = 0;
            for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(wv[i]));
            for (int64_t r = 0; r < n / row; r++)
                if (!per_token || mask[r]) check_argmax(name, out + r * row, wv + r * row, row, tol * mx);
        }
        senti_model_output_free(out);
    }
    senti_model_free(m);
    free(ids), free(mask), free(types), free(wv);
    json_decref(gold);
}

#define MAX_FIX 64
static char g_names[MAX_FIX][256];
static int g_nfix;

START_TEST(test_golden_f32) { golden_dir(g_names[_i], "f32", 1e-4); }
END_TEST
START_TEST(test_golden_half) {
    golden_dir(g_names[_i], "bf16", 2e-2);
    golden_dir(g_names[_i], "f16", 2e-2);
}
END_TEST

static void list_fixtures(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    char p[2200];
    snprintf(p, sizeof p, "%s/tests/fixtures/encoders", g_root);
    g_nfix = test_list_dir(p, "", g_names[0], MAX_FIX, sizeof g_names[0]);
}

int main(void) {
    char why[200] = "";
    /* without a device: "cuda" must be refused with a message */
    const int count = cuda_device_count(why, sizeof why);
    if (count == 0) {
        senti_backend *be = senti_backend_cuda_init("cuda");
        if (be || !strstr(senti_last_error(), "does not exist") || senti_cuda_device_count() != 0) {
            printf("FAIL: no device, yet senti_backend_cuda_init(\"cuda\") gave %p (%s)\n", (void *)be,
                   senti_last_error());
            return 1;
        }
        printf("SKIP: no CUDA device (%s)\n", why);
        return 77;
    }
    if (senti_backend_cuda_init("gpu:0") || senti_backend_cuda_init("cuda:9999")) {
        printf("FAIL: bad device strings accepted\n");
        return 1;
    }
    const char *s = getenv("SENTI_TEST_SEED");
    g_seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    printf("test_cuda seed=%llu devices=%d\n", (unsigned long long)g_seed, count);
    g_ref = senti_backend_ref_init();
    for (int b = 0; b < N_BE; b++) {
        g_be[b] = cuda_with(BE[b].matmul, BE[b].dtype);
        if (!g_be[b]) {
            printf("FAIL: cuda backend %s: %s\n", BE[b].name, senti_last_error());
            return 1;
        }
    }
    list_fixtures();
    Suite *su = suite_create("cuda");
    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 600);
    tcase_add_test(ops, test_exec);
    suite_add_tcase(su, ops);
    TCase *gold = tcase_create("golden");
    tcase_set_timeout(gold, 600);
    tcase_add_loop_test(gold, test_golden_f32, 0, g_nfix);
    tcase_add_loop_test(gold, test_golden_half, 0, g_nfix);
    suite_add_tcase(su, gold);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK); /* one process: CUDA contexts do not survive fork */
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int b = 0; b < N_BE; b++) senti_backend_free(g_be[b]);
    senti_backend_free(g_ref);
    return failed ? 1 : 0;
}
#endif /* SENTI_HAVE_CUDA */
