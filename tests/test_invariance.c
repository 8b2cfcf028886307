/* test_invariance.c — batch invariance end to end: for every task command
 * (classify at every weight type, tag, aspect, zero-shot through NLI and
 * through LLM label scoring, dialogue, generate) and every SIMD level the CPU
 * has, each record's output line is byte-identical whatever its batch: run
 * alone (--batch-size 1 --window 1 --threads 1), by default with 2 threads,
 * in small batches and windows, under a token budget, padded in input order,
 * with every row of a sequence head's last layer (SENTI_PRUNE=0), and
 * resumed after a kill with other --window / --batch-size.
 *
 * The models are random-weight checkpoints written here (safetensors +
 * config.json) with the real bert-base-uncased and llama2 tokenizers from
 * ../shared: shapes chosen so every GEMM path runs — K and N beyond one cache
 * block and not multiples of the panel width, rows split and panels split —
 * and the texts are real SST-2 sentences of mixed length, some joined into
 * long documents (hundreds of tokens). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "tests/testutil.h"

static char g_root[2048], g_tmp[256], g_cli[4200], g_bert_tok[2200], g_llama_tok[2200];
static char g_sents[64][4096];
static int g_nsents;

/* ---- random checkpoints ------------------------------------------------------------ */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float rnd(float scale) { /* uniform in [-scale, scale], deterministic */
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return scale * (2.0f * (float)((g_rng >> 40) & 0xffffff) / 16777216.0f - 1.0f);
}

typedef struct { char name[96]; int64_t shape[2]; int ndim; float fill; float scale; } st_spec;

/* One safetensors file: tensors in the given order; values uniform in
 * [-scale, scale], or all `fill` when scale is 0 (norm weights). */
static void write_st(const char *path, const st_spec *t, int n) {
    json_t *h = json_object();
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = (size_t)t[i].shape[0] * (size_t)(t[i].ndim > 1 ? t[i].shape[1] : 1);
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++) json_array_append_new(shape, json_integer(t[i].shape[d]));
        json_object_set_new(h, t[i].name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", "F32", "shape", shape, "data_offsets",
                                      (json_int_t)off, (json_int_t)(off + numel * 4)));
        off += numel * 4;
    }
    char *hs = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint64_t hl = strlen(hs);
    fwrite(&hl, 8, 1, f);
    fwrite(hs, 1, hl, f);
    free(hs);
    for (int i = 0; i < n; i++) {
        size_t numel = (size_t)t[i].shape[0] * (size_t)(t[i].ndim > 1 ? t[i].shape[1] : 1);
        for (size_t k = 0; k < numel; k++) {
            float v = t[i].scale > 0 ? rnd(t[i].scale) : t[i].fill;
            fwrite(&v, 4, 1, f);
        }
    }
    ck_assert_int_eq(fclose(f), 0);
}

static void add(st_spec *t, int *n, float scale, float fill, int64_t d0, int64_t d1, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t[*n].name, sizeof t[*n].name, fmt, ap);
    va_end(ap);
    t[*n].shape[0] = d0;
    t[*n].shape[1] = d1;
    t[*n].ndim = d1 ? 2 : 1;
    t[*n].scale = scale;
    t[*n].fill = fill;
    (*n)++;
}

enum { BH = 96, BI = 1100, BL = 2, BHEADS = 4, BV = 30522, BPOS = 512 };

/* A BERT checkpoint: seq (pooler + classifier) or token classifier, labels. */
static void make_bert(const char *dir, bool seq, const char *const *labels, int nl) {
    mkdir(dir, 0755);
    static st_spec t[64];
    int n = 0;
    const float s = 0.08f;
    add(t, &n, s, 0, BV, BH, "bert.embeddings.word_embeddings.weight");
    add(t, &n, s, 0, BPOS, BH, "bert.embeddings.position_embeddings.weight");
    add(t, &n, s, 0, 2, BH, "bert.embeddings.token_type_embeddings.weight");
    add(t, &n, 0, 1, BH, 0, "bert.embeddings.LayerNorm.weight");
    add(t, &n, 0.02f, 0, BH, 0, "bert.embeddings.LayerNorm.bias");
    for (int l = 0; l < BL; l++) {
        const char *p = "bert.encoder.layer";
        add(t, &n, s, 0, BH, BH, "%s.%d.attention.self.query.weight", p, l);
        add(t, &n, s, 0, BH, 0, "%s.%d.attention.self.query.bias", p, l);
        add(t, &n, s, 0, BH, BH, "%s.%d.attention.self.key.weight", p, l);
        add(t, &n, s, 0, BH, 0, "%s.%d.attention.self.key.bias", p, l);
        add(t, &n, s, 0, BH, BH, "%s.%d.attention.self.value.weight", p, l);
        add(t, &n, s, 0, BH, 0, "%s.%d.attention.self.value.bias", p, l);
        add(t, &n, s, 0, BH, BH, "%s.%d.attention.output.dense.weight", p, l);
        add(t, &n, s, 0, BH, 0, "%s.%d.attention.output.dense.bias", p, l);
        add(t, &n, 0, 1, BH, 0, "%s.%d.attention.output.LayerNorm.weight", p, l);
        add(t, &n, 0.02f, 0, BH, 0, "%s.%d.attention.output.LayerNorm.bias", p, l);
        add(t, &n, s, 0, BI, BH, "%s.%d.intermediate.dense.weight", p, l);
        add(t, &n, s, 0, BI, 0, "%s.%d.intermediate.dense.bias", p, l);
        add(t, &n, s, 0, BH, BI, "%s.%d.output.dense.weight", p, l);
        add(t, &n, s, 0, BH, 0, "%s.%d.output.dense.bias", p, l);
        add(t, &n, 0, 1, BH, 0, "%s.%d.output.LayerNorm.weight", p, l);
        add(t, &n, 0.02f, 0, BH, 0, "%s.%d.output.LayerNorm.bias", p, l);
    }
    if (seq) {
        add(t, &n, s, 0, BH, BH, "bert.pooler.dense.weight");
        add(t, &n, s, 0, BH, 0, "bert.pooler.dense.bias");
    }
    add(t, &n, 0.3f, 0, nl, BH, "classifier.weight");
    add(t, &n, 0.1f, 0, nl, 0, "classifier.bias");
    char path[2400];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_st(path, t, n);
    json_t *id2label = json_object(), *label2id = json_object();
    for (int i = 0; i < nl; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        json_object_set_new(id2label, k, json_string(labels[i]));
        json_object_set_new(label2id, labels[i], json_integer(i));
    }
    json_t *cfg = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:f,s:i,s:o,s:o}", "architectures",
                            seq ? "BertForSequenceClassification" : "BertForTokenClassification", "model_type", "bert",
                            "hidden_size", BH, "intermediate_size", BI, "num_hidden_layers", BL,
                            "num_attention_heads", BHEADS, "vocab_size", BV, "max_position_embeddings", BPOS,
                            "type_vocab_size", 2, "hidden_act", "gelu", "layer_norm_eps", 1e-12, "pad_token_id", 0,
                            "id2label", id2label, "label2id", label2id);
    snprintf(path, sizeof path, "%s/config.json", dir);
    ck_assert_int_eq(json_dump_file(cfg, path, JSON_INDENT(1)), 0);
    json_decref(cfg);
}

enum { LH = 128, LI = 700, LL = 2, LHEADS = 4, LKV = 2, LV = 32000 };

/* A LLaMA checkpoint with grouped-query attention and an untied head. */
static void make_llama(const char *dir) {
    mkdir(dir, 0755);
    static st_spec t[64];
    int n = 0;
    const float s = 0.1f;
    const int64_t hd = LH / LHEADS;
    add(t, &n, 0.5f, 0, LV, LH, "model.embed_tokens.weight");
    for (int l = 0; l < LL; l++) {
        add(t, &n, 0, 1, LH, 0, "model.layers.%d.input_layernorm.weight", l);
        add(t, &n, s, 0, LH, LH, "model.layers.%d.self_attn.q_proj.weight", l);
        add(t, &n, s, 0, LKV * hd, LH, "model.layers.%d.self_attn.k_proj.weight", l);
        add(t, &n, s, 0, LKV * hd, LH, "model.layers.%d.self_attn.v_proj.weight", l);
        add(t, &n, s, 0, LH, LH, "model.layers.%d.self_attn.o_proj.weight", l);
        add(t, &n, 0, 1, LH, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        add(t, &n, s, 0, LI, LH, "model.layers.%d.mlp.gate_proj.weight", l);
        add(t, &n, s, 0, LI, LH, "model.layers.%d.mlp.up_proj.weight", l);
        add(t, &n, s, 0, LH, LI, "model.layers.%d.mlp.down_proj.weight", l);
    }
    add(t, &n, 0, 1, LH, 0, "model.norm.weight");
    add(t, &n, 0.2f, 0, LV, LH, "lm_head.weight");
    char path[2400];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_st(path, t, n);
    json_t *cfg = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:b,s:i,s:i}", "architectures",
                            "LlamaForCausalLM", "model_type", "llama", "hidden_size", LH, "intermediate_size", LI,
                            "num_hidden_layers", LL, "num_attention_heads", LHEADS, "num_key_value_heads", LKV,
                            "vocab_size", LV, "max_position_embeddings", 2048, "rms_norm_eps", 1e-5, "rope_theta",
                            10000.0, "tie_word_embeddings", 0, "bos_token_id", 1, "eos_token_id", 2);
    snprintf(path, sizeof path, "%s/config.json", dir);
    ck_assert_int_eq(json_dump_file(cfg, path, JSON_INDENT(1)), 0);
    json_decref(cfg);
}

/* ---- inputs: real SST-2 sentences of mixed length ------------------------------------- */

static void load_sentences(void) {
    char path[2400], line[4096];
    snprintf(path, sizeof path, "%s/../shared/assets/data/sst2/dev.tsv", g_root);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* header */
    int i = 0;
    while (g_nsents < 64 && fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        if (i++ % 7 != 0) continue; /* spread over the file */
        snprintf(g_sents[g_nsents++], sizeof g_sents[0], "%s", line);
    }
    fclose(f);
    ck_assert_int_ge(g_nsents, 40);
}

/* Text i: a sentence, every 9th a document of 12 sentences (long: hundreds of tokens). */
static void text_of(int i, char *buf, size_t n) {
    buf[0] = '\0';
    const int parts = i % 9 == 4 ? 12 : 1;
    for (int p = 0; p < parts; p++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", p ? " " : "", g_sents[(i * 5 + p * 3) % g_nsents]);
    }
}

enum { NREC = 40 };

typedef enum { IN_TEXT, IN_ASPECT, IN_DIALOGUE } in_kind;

static void write_inputs(const char *path, in_kind kind, int nrec) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    static char text[40000];
    for (int i = 0; i < nrec; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "id", json_integer(i));
        text_of(i, text, sizeof text);
        if (kind == IN_DIALOGUE) {
            json_t *d = json_array();
            for (int u = 0; u < 1 + i % 4; u++) {
                char ut[4096];
                snprintf(ut, sizeof ut, "%s", g_sents[(i + u * 7) % g_nsents]);
                json_array_append_new(d, json_pack("{s:s,s:s}", "speaker", u % 2 ? "B" : "A", "text", ut));
            }
            json_object_set_new(r, "dialogue", d);
        } else {
            json_object_set_new(r, "text", json_string(text));
        }
        if (kind == IN_ASPECT) { /* the text's third word as the aspect */
            char w[64] = "film";
            sscanf(text, "%*s %*s %63s", w);
            json_object_set_new(r, "aspect", json_string(w));
        }
        char *s = json_dumps(r, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(r);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- running the command --------------------------------------------------------------- */

#define MAXARGS 48

static pid_t spawn(const char *simd, const char *const *args, const char *in, const char *out, const char *const *extra,
                   bool resume, const char *env) {
    const char *argv[MAXARGS];
    int n = 0;
    argv[n++] = "senti";
    for (int i = 0; args[i]; i++) argv[n++] = args[i];
    argv[n++] = "--input", argv[n++] = in, argv[n++] = "--output", argv[n++] = out;
    for (int i = 0; extra && extra[i]; i++) argv[n++] = extra[i];
    if (resume) argv[n++] = "--resume";
    argv[n] = NULL;
    ck_assert_int_lt(n, MAXARGS);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 2);
        if (simd) setenv("SENTI_SIMD", simd, 1);
        else unsetenv("SENTI_SIMD");
        if (env) putenv((char *)env);
        else unsetenv("SENTI_PRUNE");
        execv(g_cli, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_rc(pid_t pid) {
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count_lines(const char *s, size_t n) {
    int l = 0;
    for (size_t i = 0; i < n; i++) l += s[i] == '\n';
    return l;
}

/* The first line where a and b differ (1-based), 0 if identical. */
static int first_diff(const char *a, const char *b) {
    int line = 1;
    for (size_t i = 0;; i++) {
        if (a[i] != b[i]) return line;
        if (!a[i]) return 0;
        line += a[i] == '\n';
    }
}

static const char *const VARIANTS[][10] = {
    {"--threads", "2", NULL},                                                 /* defaults */
    {"--batch-size", "3", "--window", "7", "--threads", "2", NULL},           /* small batches */
    {"--max-batch-tokens", "256", "--window", "64", "--threads", "1", NULL},  /* token budget */
    {"--no-bucketing", "--batch-size", "8", "--threads", "2", NULL},          /* input order, padded */
    {"--threads", "2", NULL},                                                 /* every row of the last layer */
};
static const char *const VARIANT_ENV[] = {NULL, NULL, NULL, NULL, "SENTI_PRUNE=0"};
static const char *const REF[] = {"--batch-size", "1", "--window", "1", "--threads", "1", NULL};

/* Run `args` over `in` alone and in every variant at SIMD level simd; every
 * output byte-identical to the record-alone run. */
static void check_task(const char *what, const char *simd, const char *const *args, const char *in, int nrec,
                       bool kill_resume) {
    char ref[300], out[300];
    snprintf(ref, sizeof ref, "%s/ref.jsonl", g_tmp);
    snprintf(out, sizeof out, "%s/out.jsonl", g_tmp);
    unlink(ref);
    /* the record-alone run and the variants run at once, each into its own
     * file (they share nothing; the machine's cores stay busy) */
    const pid_t rpid = spawn(simd, args, in, ref, REF, false, NULL);
    enum { NV = sizeof VARIANTS / sizeof VARIANTS[0] };
    char vout[NV][320];
    pid_t vpid[NV];
    for (size_t v = 0; v < NV; v++) {
        snprintf(vout[v], sizeof vout[v], "%s.v%zu", out, v);
        unlink(vout[v]);
        vpid[v] = spawn(simd, args, in, vout[v], VARIANTS[v], false, VARIANT_ENV[v]);
    }
    const int rrc = wait_rc(rpid);
    int vrc[NV];
    for (size_t v = 0; v < NV; v++) vrc[v] = wait_rc(vpid[v]);
    ck_assert_msg(rrc == 0, "%s [%s]: the reference run failed", what, simd ? simd : "native");
    size_t nref, nout;
    char *want = test_slurp(ref, &nref);
    ck_assert_msg(count_lines(want, nref) == nrec, "%s: %d lines, expected %d", what, count_lines(want, nref), nrec);
    ck_assert_msg(strstr(want, "\"error\"") == NULL, "%s: an error record in the reference output", what);
    for (size_t v = 0; v < NV; v++) {
        ck_assert_msg(vrc[v] == 0, "%s [%s]: variant %zu failed", what, simd ? simd : "native", v);
        char *got = test_slurp(vout[v], &nout);
        const int d = first_diff(want, got);
        ck_assert_msg(d == 0, "%s [%s]: variant %zu (%s%s%s %s ...) differs from the record-alone run at line %d", what,
                      simd ? simd : "native", v, VARIANT_ENV[v] ? VARIANT_ENV[v] : "", VARIANT_ENV[v] ? " " : "",
                      VARIANTS[v][0], VARIANTS[v][1], d);
        free(got);
        unlink(vout[v]);
    }
    if (kill_resume) { /* killed part-way with one batching, resumed with another */
        char prog[320];
        snprintf(prog, sizeof prog, "%s.progress", out);
        static const char *const A[] = {"--window", "5", "--batch-size", "2", "--threads", "1", NULL};
        static const char *const B[] = {"--window", "16", "--batch-size", "6", "--threads", "2", NULL};
        int killed = 0;
        for (int attempt = 0; attempt < 6 && !killed; attempt++) {
            unlink(out);
            unlink(prog);
            pid_t pid = spawn(simd, args, in, out, A, true, NULL);
            struct timespec ts = {0, (long)(20 + 40 * attempt) * 1000000L};
            nanosleep(&ts, NULL);
            killed = kill(pid, SIGKILL) == 0 && wait_rc(pid) == 128 + SIGKILL;
            if (!killed) continue;
            ck_assert_msg(wait_rc(spawn(simd, args, in, out, B, true, NULL)) == 0, "%s: the resumed run failed", what);
            char *got = test_slurp(out, &nout);
            const int d = first_diff(want, got);
            ck_assert_msg(d == 0, "%s [%s]: killed and resumed with another --window / --batch-size: line %d differs",
                          what, simd ? simd : "native", d);
            free(got);
        }
        if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s: kill/resume %s\n", what, killed ? "ran" : "finished first");
    }
    free(want);
}

/* Under the sanitizers (5-10x slower) the Release tree's run covers the lower
 * levels: only the native one here. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define INV_SANITIZED 1
#else
#define INV_SANITIZED 0
#endif

/* The SIMD levels this CPU can run: native first, then each lower one forced. */
static int levels(const char *out[3]) {
    const cpu_features *f = cpu_get_features();
    int n = 0;
    out[n++] = NULL;
    const bool avx2 = f->avx2 && f->fma && f->f16c, avx512 = avx2 && f->avx512f && f->avx512bw && f->avx512vl;
    if (INV_SANITIZED) return n;
    if (avx512) out[n++] = "avx2";
    if (avx2) out[n++] = "scalar";
    return n;
}

/* ---- the tests ---------------------------------------------------------------------------- */

static char g_cls[2300], g_tagger[2300], g_nli[2300], g_llama[2300];

static void setup(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    ssize_t n = readlink("/proc/self/exe", g_cli, sizeof g_cli - 16);
    ck_assert_int_gt(n, 0);
    g_cli[n] = '\0';
    strcpy(strrchr(g_cli, '/'), "/../senti"); /* <build>/tests/test_invariance -> <build>/senti */
    snprintf(g_bert_tok, sizeof g_bert_tok, "%s/../shared/assets/tokenizers/bert-base-uncased/tokenizer.json", g_root);
    snprintf(g_llama_tok, sizeof g_llama_tok, "%s/../shared/assets/tokenizers/llama2/tokenizer.model", g_root);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/senti-inv-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_tmp));
    load_sentences();
    static const char *const sent[] = {"negative", "neutral", "positive"};
    static const char *const nli[] = {"contradiction", "neutral", "entailment"};
    static const char *const tags[] = {"O", "B-ASP", "I-ASP", "B-OP", "I-OP"};
    snprintf(g_cls, sizeof g_cls, "%s/cls", g_tmp);
    snprintf(g_tagger, sizeof g_tagger, "%s/tagger", g_tmp);
    snprintf(g_nli, sizeof g_nli, "%s/nli", g_tmp);
    snprintf(g_llama, sizeof g_llama, "%s/llama", g_tmp);
    make_bert(g_cls, true, sent, 3);
    make_bert(g_tagger, false, tags, 5);
    make_bert(g_nli, true, nli, 3);
    make_llama(g_llama);
}

static void teardown(void) { if (!getenv("SENTI_TEST_KEEP")) test_rm_tree(g_tmp); }

static bool have_cli(void) {
    if (access(g_cli, X_OK) == 0) return true;
    fprintf(stderr, "test_invariance: skipped, %s not built\n", g_cli);
    return false;
}

START_TEST(test_classify) {
    if (!have_cli()) return;
    char in[300];
    snprintf(in, sizeof in, "%s/text.jsonl", g_tmp);
    write_inputs(in, IN_TEXT, NREC);
    const char *lv[3];
    const int nl = levels(lv);
    static const char *const dtypes[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "int8"};
    for (int l = 0; l < nl; l++)
        for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
            const char *args[] = {"classify", "-m", g_cls, "--tokenizer", g_bert_tok, "--dtype", dtypes[d], NULL};
            char what[64];
            snprintf(what, sizeof what, "classify %s", dtypes[d]);
            check_task(what, lv[l], args, in, NREC, d == 0);
        }
}
END_TEST

START_TEST(test_tag_aspect_dialogue) {
    if (!have_cli()) return;
    char in[300], ain[300], din[300];
    snprintf(in, sizeof in, "%s/text.jsonl", g_tmp);
    snprintf(ain, sizeof ain, "%s/aspect.jsonl", g_tmp);
    snprintf(din, sizeof din, "%s/dialogue.jsonl", g_tmp);
    write_inputs(in, IN_TEXT, NREC);
    write_inputs(ain, IN_ASPECT, NREC);
    write_inputs(din, IN_DIALOGUE, NREC);
    const char *lv[3];
    const int nl = levels(lv);
    for (int l = 0; l < nl; l++) {
        const char *tag[] = {"tag", "-m", g_tagger, "--tokenizer", g_bert_tok, NULL};
        check_task("tag", lv[l], tag, in, NREC, false);
        const char *asp[] = {"aspect", "-m", g_cls, "--tokenizer", g_bert_tok, NULL};
        check_task("aspect", lv[l], asp, ain, NREC, false);
        const char *dia[] = {"dialogue", "-m", g_cls, "--tokenizer", g_bert_tok, "--context", "2", NULL};
        check_task("dialogue", lv[l], dia, din, NREC, false);
        const char *zs[] = {"zero-shot", "-m", g_nli, "--tokenizer", g_bert_tok, "--labels",
                            "positive,negative,neutral", NULL};
        check_task("zero-shot nli", lv[l], zs, in, NREC, false);
    }
}
END_TEST

START_TEST(test_decoder_tasks) {
    if (!have_cli()) return;
    char in[300];
    snprintf(in, sizeof in, "%s/prompts.jsonl", g_tmp);
    enum { NP = 16 };
    write_inputs(in, IN_TEXT, NP);
    const char *lv[3];
    const int nl = levels(lv);
    for (int l = 0; l < nl; l++) {
        const char *zs[] = {"zero-shot", "-m", g_llama, "--tokenizer", g_llama_tok, "--labels",
                            "positive,negative,neutral", NULL};
        check_task("zero-shot llm", lv[l], zs, in, NP, false);
        const char *gen[] = {"generate", "-m", g_llama, "--tokenizer", g_llama_tok, "--max-new-tokens", "6", NULL};
        check_task("generate", lv[l], gen, in, NP, false);
        const char *gen8[] = {"generate", "-m", g_llama, "--tokenizer", g_llama_tok, "--max-new-tokens", "6",
                              "--dtype", "q8_0", NULL};
        check_task("generate q8_0", lv[l], gen8, in, NP, false);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("invariance");
    TCase *tc = tcase_create("tasks");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_classify);
    tcase_add_test(tc, test_tag_aspect_dialogue);
    tcase_add_test(tc, test_decoder_tasks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
