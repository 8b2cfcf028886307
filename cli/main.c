/* main.c — the `senti` command: one subcommand per task plus info, tokenize,
 * logits, bench, convert (so far: info, logits, tokenize, classify, aspect, tag, bench, version). */
#include <getopt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../bench/bench.h"
#include "cli.h"

int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_aspect(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_zero_shot(int argc, char **argv);
int cmd_dialogue(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_cause(int argc, char **argv);
int cmd_serve(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f,
            "usage: senti <command> [options]\n"
            "commands:\n"
            "  bench [model]     time a BERT-base-shaped encoder on synthetic weights\n"
            "  bench kernels     matmul (hand-written vs OpenBLAS), norms, softmax, GELU, attention\n"
            "  bench decoder     prefill and decode tokens/s of a Qwen2-0.5B-shaped LM (f32, bf16, q8_0)\n"
            "  bench decoder -m M   the same of a real causal LM (HF directory or GGUF; weights as stored\n"
            "                    unless --dtype): prefill 1 x 128, decode 64 tokens after 128\n"
            "  bench cuda        GPU: ceilings, GEMM vs cuBLAS, attention, BERT-base encoder (SENTI_CUDA builds)\n"
            "  bench ports       instruction mixes of the GEMM tiles issued a cycle per core (their ceilings)\n"
            "  tokenize -m M [--pair T2] [--no-special] TEXT   ids, tokens, offsets as JSON\n"
            "  info -m DIR       a HuggingFace model's architecture, sizes, parameters, dtypes, labels (JSON)\n"
            "  logits -m DIR --ids 101,2023,102 [--type-ids 0,0,0] [--ids ...]   the head's output (JSON)\n"
            "  classify -m DIR [--input FILE|-] [--top-k K] [--threshold X] [--stride N [--aggregate A]]\n"
            "           [--explain occlusion|rollout|ig [--explain-html FILE]] [TEXT...]   labels and scores (JSONL)\n"
            "  aspect -m DIR --aspect A [--template T] [--input FILE|-] [TEXT...]   aspect sentiment (JSONL)\n"
            "  tag -m DIR [--aggregation none|simple|first|average|max] [--stride N] [--input FILE|-] [TEXT...]   spans (JSONL)\n"
            "  zero-shot -m DIR --labels A,B [--template T] [--multi-label] [--input FILE|-] [TEXT...]   NLI label scores\n"
            "  dialogue -m DIR [--context N] [--context-as pair|prefix] --input FILE   per-utterance emotion (JSONL)\n"
            "  embed -m DIR [--pooling cls|mean|max] [--normalize|--no-normalize] [--input FILE|-] [TEXT...]\n"
            "                    sentence embeddings from a base encoder (JSONL: id, embedding)\n"
            "  cause -m DIR [--pair-model DIR] [--cause-model DIR] [--input FILE|-] [TEXT...]\n"
            "                    emotion clauses, cause clauses and emotion-cause pairs (ECE / ECPE, JSONL)\n"
            "  generate -m DIR [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--stop S] [--chat] PROMPT...\n"
            "                    decoder text generation (JSONL: text, ids, finish_reason)\n"
            "  extract -m DIR --schema aspect|opinion|aesc|pair|triplet|quad|cause-pair|event [--few-shot FILE] [--constrained] TEXT...\n"
            "                    generative extraction with a decoder, grounded to offsets (JSONL)\n"
            "  eval [-m M] --task T --data FILE [--format F] [--predictions OUT] [--score PRED]   metrics on a labelled\n"
            "                    file (accuracy, macro/weighted F1, span/tuple P/R/F1) as one JSON object\n"
            "  serve [-m DIR] [--host 127.0.0.1] [--port 8080] [limits]   HTTP server: POST /predict, /embed,\n"
            "                    /tokenize, /v1/completions; GET /health, /info, /metrics (senti serve -h)\n"
            "  convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]   one GGUF file (-m accepts it)\n"
            "  version           print the version\n"
            "bench options:\n"
            "  --threads N       threads (default: all cores)\n"
            "  --repeats N       timed runs per case after one warm-up (default 3 model, 7 kernels)\n"
            "  --json            machine-readable output\n"
            "  --filter S        kernels: only cases whose name contains S\n"
            "  --batch N         model: sequences per batch (default 8)\n"
            "  --seq-len N       model: tokens per sequence (default 128)\n"
            "  --layers N        model: encoder layers (default 12)\n"
            "  --dtype T         model, decoder -m: linear weights f32|f16|bf16|q8_0|q4_0|int8 (default f32; -m: as stored)\n"
            "  SENTI_BENCH_CLOCK=cpu   time by process CPU time, not wall (with --threads 1: steady on a busy machine)\n");
}

static bool parse_int(const char *flag, const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "senti: %s expects an integer in %d..%d, got '%s'\n", flag, lo, hi, s);
        return false;
    }
    *out = (int)v;
    return true;
}

static int cmd_bench(int argc, char **argv) {
    bench_opts o = {.n_threads = 0, .repeats = 0, .batch = 8, .seq_len = 128, .layers = 12, .wtype = SENTI_TYPE_F32};
    enum { O_THREADS = 1, O_REPEATS, O_JSON, O_FILTER, O_BATCH, O_SEQ, O_LAYERS, O_DTYPE };
    static const struct option opts[] = {
        {"threads", required_argument, 0, O_THREADS}, {"repeats", required_argument, 0, O_REPEATS},
        {"json", no_argument, 0, O_JSON},             {"filter", required_argument, 0, O_FILTER},
        {"batch", required_argument, 0, O_BATCH},     {"seq-len", required_argument, 0, O_SEQ},
        {"layers", required_argument, 0, O_LAYERS},   {"dtype", required_argument, 0, O_DTYPE},
        {"model", required_argument, 0, 'm'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hm:", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_THREADS: ok = parse_int("--threads", optarg, 1, 1024, &o.n_threads); break;
        case O_REPEATS: ok = parse_int("--repeats", optarg, 1, 100000, &o.repeats); break;
        case O_JSON: o.json = true; break;
        case O_FILTER: o.filter = optarg; break;
        case O_BATCH: ok = parse_int("--batch", optarg, 1, 65536, &o.batch); break;
        case O_SEQ: ok = parse_int("--seq-len", optarg, 1, 512, &o.seq_len); break;
        case O_LAYERS: ok = parse_int("--layers", optarg, 1, 96, &o.layers); break;
        case O_DTYPE:
            o.wtype = senti_type_from_name(optarg);
            if (o.wtype == SENTI_TYPE_COUNT || o.wtype == SENTI_TYPE_I32 || o.wtype == SENTI_TYPE_Q4_K ||
                o.wtype == SENTI_TYPE_Q6_K) {
                fprintf(stderr, "senti: --dtype expects f32|f16|bf16|q8_0|q4_0|int8, got '%s'\n", optarg);
                ok = false;
            }
            break;
        case 'm': o.model = optarg; break;
        case 'h': usage(stdout); return 0;
        default: ok = false;
        }
        if (c == O_DTYPE) o.wtype_set = true;
        if (!ok) return 2;
    }
    const char *what = optind < argc ? argv[optind] : "model";
    if (optind + 1 < argc) {
        fprintf(stderr, "senti bench: unexpected argument '%s'\n", argv[optind + 1]);
        return 2;
    }
    if (o.model && strcmp(what, "decoder") != 0) {
        fprintf(stderr, "senti bench: -m is for 'bench decoder'\n");
        return 2;
    }
    if (strcmp(what, "kernels") == 0) {
        if (!o.repeats) o.repeats = 7;
        return bench_kernels(&o);
    }
    if (strcmp(what, "model") == 0) {
        if (!o.repeats) o.repeats = 3;
        return bench_model(&o);
    }
    if (strcmp(what, "cuda") == 0) {
        if (!o.repeats) o.repeats = 20;
        return bench_cuda(&o);
    }
    if (strcmp(what, "decoder") == 0) {
        if (!o.repeats) o.repeats = 5;
        return bench_decoder(&o);
    }
    if (strcmp(what, "ports") == 0) return bench_ports(&o);
    fprintf(stderr, "senti bench: unknown benchmark '%s' (kernels, model, decoder, ports)\n", what);
    return 2;
}

static int run(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "logits") == 0) return cmd_logits(argc - 1, argv + 1);
    if (strcmp(cmd, "classify") == 0) return cmd_classify(argc - 1, argv + 1);
    if (strcmp(cmd, "aspect") == 0) return cmd_aspect(argc - 1, argv + 1);
    if (strcmp(cmd, "tag") == 0) return cmd_tag(argc - 1, argv + 1);
    if (strcmp(cmd, "zero-shot") == 0) return cmd_zero_shot(argc - 1, argv + 1);
    if (strcmp(cmd, "dialogue") == 0) return cmd_dialogue(argc - 1, argv + 1);
    if (strcmp(cmd, "convert") == 0) return cmd_convert(argc - 1, argv + 1);
    if (strcmp(cmd, "generate") == 0) return cmd_generate(argc - 1, argv + 1);
    if (strcmp(cmd, "extract") == 0) return cmd_extract(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "embed") == 0) return cmd_embed(argc - 1, argv + 1);
    if (strcmp(cmd, "cause") == 0) return cmd_cause(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("senti %s\n", senti_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "senti: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

/* The environment's kernel switches hold a value the code reads, or the run
 * stops: a misspelt SENTI_SIMD in a job script would otherwise run at
 * another level (other bytes) without a word. */
static bool env_ok(void) {
    static const struct { const char *name, *values[4]; } ENV[] = {
        {"SENTI_SIMD", {"scalar", "avx2", "avx512", NULL}}, {"SENTI_MATMUL", {"native", "blas", "cublas", NULL}}};
    for (size_t i = 0; i < sizeof ENV / sizeof *ENV; i++) {
        const char *v = getenv(ENV[i].name);
        bool ok = !v || !*v;
        for (int k = 0; !ok && ENV[i].values[k]; k++) ok = strcmp(v, ENV[i].values[k]) == 0;
        if (!ok) {
            fprintf(stderr, "senti: %s=%s is not one of %s|%s|%s\n", ENV[i].name, v, ENV[i].values[0],
                    ENV[i].values[1], ENV[i].values[2]);
            return false;
        }
    }
    return true;
}

/* Every command's stdout is checked here once: a write or close error (a full
 * disk, /dev/full, a closed pipe) makes the exit status non-zero. */
int main(int argc, char **argv) {
    if (!env_ok()) return 2;
    if (!cli_mpi_init(&argc, &argv)) return 1;
    int rc = run(argc, argv);
    cli_mpi_finalize();
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "senti: writing the output failed: %s\n", errno ? strerror(errno) : "write error");
        return rc ? rc : 1;
    }
    if (fclose(stdout) != 0) {
        fprintf(stderr, "senti: closing the output failed: %s\n", strerror(errno));
        return rc ? rc : 1;
    }
    return rc;
}
