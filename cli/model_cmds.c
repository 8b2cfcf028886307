/* model_cmds.c — `senti info -m DIR` (the model's sizes, dtypes and labels as
 * JSON) and `senti logits -m DIR --ids 1,2,3 [--type-ids 0,0,0] ...` (the
 * head's output as {"shape":[…],"data":[…]}). Bad arguments exit 2, a model
 * that fails to load or run exits 1. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "senti.h"

int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);

static const char *head_name(senti_model_head h) {
    switch (h) {
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: return "sequence_classification";
    case SENTI_HEAD_TOKEN_CLASSIFICATION: return "token_classification";
    case SENTI_HEAD_BASE: return "base";
    case SENTI_HEAD_MASKED_LM: return "masked_lm";
    case SENTI_HEAD_CAUSAL_LM: return "causal_lm";
    case SENTI_HEAD_SEQ2SEQ_LM: return "seq2seq_lm";
    }
    return "?";
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'm') dir = optarg;
        else {
            fprintf(c == 'h' ? stdout : stderr, "usage: senti info -m DIR\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (!dir || optind < argc) {
        fprintf(stderr, "usage: senti info -m DIR\n");
        return 2;
    }
    senti_model *m = senti_model_load(dir, 1);
    if (!m) {
        fprintf(stderr, "senti info: %s\n", senti_last_error());
        return 1;
    }
    json_t *o = json_object(), *dt = json_array(), *labels = json_array();
    char dtypes[64];
    snprintf(dtypes, sizeof dtypes, "%s", senti_model_weight_dtypes(m));
    for (char *save = NULL, *t = strtok_r(dtypes, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(dt, json_string(t));
    for (int64_t i = 0; i < senti_model_num_labels(m); i++) {
        const char *l = senti_model_label(m, i);
        char def[32];
        snprintf(def, sizeof def, "LABEL_%lld", (long long)i);
        json_array_append_new(labels, json_string(l ? l : def));
    }
    json_object_set_new(o, "architecture", json_string(senti_model_architecture(m)));
    json_object_set_new(o, "model_type", json_string(senti_model_type(m)));
    json_object_set_new(o, "head", json_string(head_name(senti_model_get_head(m))));
    json_object_set_new(o, "hidden_size", json_integer(senti_model_hidden_size(m)));
    json_object_set_new(o, "num_layers", json_integer(senti_model_num_layers(m)));
    json_object_set_new(o, "num_heads", json_integer(senti_model_num_heads(m)));
    json_object_set_new(o, "vocab_size", json_integer(senti_model_vocab_size(m)));
    json_object_set_new(o, "max_length", json_integer(senti_model_max_length(m)));
    json_object_set_new(o, "type_vocab_size", json_integer(senti_model_type_vocab_size(m)));
    json_object_set_new(o, "pad_token_id", json_integer(senti_model_pad_token_id(m)));
    json_object_set_new(o, "num_labels", json_integer(senti_model_num_labels(m)));
    json_object_set_new(o, "num_parameters", json_integer(senti_model_num_parameters(m)));
    json_object_set_new(o, "dtypes", dt);
    json_object_set_new(o, "labels", labels);
    if (senti_model_extra_heads(m) > 0) { /* "primary_head": name, "extra_heads": [{"name","type",…}] */
        json_t *heads = json_array();
        json_object_set_new(o, "primary_head", json_string(senti_model_primary_head_name(m)));
        for (int64_t k = 0; k < senti_model_extra_heads(m); k++) {
            senti_head_info h;
            senti_model_extra_head(m, k, &h);
            json_t *e = json_object(), *hl = json_array();
            json_object_set_new(e, "name", json_string(h.name));
            for (int64_t l = 0; l < h.num_labels; l++) json_array_append_new(hl, json_string(h.labels[l]));
            json_object_set_new(e, "type", json_string(h.kind == SENTI_HEAD_TOKEN_CLASSIFICATION ? "token" : "sequence"));
            json_object_set_new(e, "multi_label", json_boolean(h.multi_label));
            json_object_set_new(e, "labels", hl);
            json_array_append_new(heads, e);
        }
        json_object_set_new(o, "extra_heads", heads);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = s ? 0 : 1;
    if (s) printf("%s\n", s);
    free(s);
    json_decref(o);
    senti_model_free(m);
    return rc;
}

/* "1,2,3" -> ints; false (with a message) on anything else. */
static bool parse_ids(const char *flag, const char *s, int32_t **out, int64_t *n) {
    int64_t cap = 16, k = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    const char *p = s;
    while (v) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX || (*end != ',' && *end != '\0')) {
            fprintf(stderr, "senti logits: %s expects comma-separated non-negative integers, got '%s'\n", flag, s);
            free(v);
            return false;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        v[k++] = (int32_t)x;
        if (*end == '\0') {
            *out = v, *n = k;
            return true;
        }
        p = end + 1;
    }
    free(v);
    fprintf(stderr, "senti logits: out of memory\n");
    return false;
}

#define MAX_INPUTS 256

static void logits_usage(FILE *f) {
    fprintf(f, "usage: senti logits -m DIR (--ids 101,2023,102 [--type-ids 0,0,0] ... | [--tokenizer PATH] TEXT...)\n"
               "                    [--threads N]\n"
               "  TEXT: tokenized with the model's tokenizer (special tokens added), one input each\n"
               "  one input: shape [num_labels] | [T, num_labels] | [T, hidden] | [T, vocab]\n"
               "             (sequence / token classifier / base / masked or causal LM)\n"
               "  several: a right-padded batch, shape [B, ...] with T the longest input\n");
}

/* TEXT arguments as inputs: each tokenized with tok (special tokens added). */
static bool text_inputs(const char *tok_path, char **texts, int nt, int32_t **ids, int32_t **types, int64_t *lens,
                        int *n) {
    senti_tokenizer *tok = senti_tokenizer_load(tok_path);
    if (!tok) {
        fprintf(stderr, "senti logits: %s\n", senti_last_error());
        return false;
    }
    bool ok = true;
    for (int i = 0; i < nt && ok; i++) {
        senti_encoding *e = NULL;
        if (*n == MAX_INPUTS || senti_tokenizer_encode(tok, texts[i], strlen(texts[i]), NULL, 0, NULL, &e) != SENTI_OK) {
            fprintf(stderr, "senti logits: %s\n", *n == MAX_INPUTS ? "too many inputs" : senti_last_error());
            ok = false;
            break;
        }
        const int64_t L = senti_encoding_len(e);
        ids[*n] = malloc((size_t)(L ? L : 1) * sizeof(int32_t));
        types[*n] = malloc((size_t)(L ? L : 1) * sizeof(int32_t));
        if (ids[*n] && types[*n] && L) {
            memcpy(ids[*n], senti_encoding_ids(e), (size_t)L * sizeof(int32_t));
            memcpy(types[*n], senti_encoding_type_ids(e), (size_t)L * sizeof(int32_t));
        }
        ok = ids[*n] && types[*n] && L > 0;
        if (!ok) fprintf(stderr, "senti logits: '%s' has no tokens or out of memory\n", texts[i]);
        lens[*n] = L;
        (*n)++;
        senti_encoding_free(e);
    }
    senti_tokenizer_free(tok);
    return ok;
}

int cmd_logits(int argc, char **argv) {
    enum { O_IDS = 1, O_TYPES, O_THREADS, O_TOK };
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},  {"ids", required_argument, 0, O_IDS},
                                         {"type-ids", required_argument, 0, O_TYPES},
                                         {"tokenizer", required_argument, 0, O_TOK},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *dir = NULL, *tok_path = NULL;
    int32_t *ids[MAX_INPUTS] = {0}, *types[MAX_INPUTS] = {0};
    int64_t lens[MAX_INPUTS] = {0}, tlens[MAX_INPUTS] = {0};
    int n = 0, threads = 0, rc = 2, c;
    bool any_types = false;
    int32_t *bids = NULL, *btypes = NULL, *bmask = NULL;
    float *out = NULL;
    senti_model *m = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case O_TOK: tok_path = optarg; break;
        case O_IDS:
            if (n == MAX_INPUTS) {
                fprintf(stderr, "senti logits: at most %d --ids\n", MAX_INPUTS);
                goto done;
            }
            if (!parse_ids("--ids", optarg, &ids[n], &lens[n])) goto done;
            n++;
            break;
        case O_TYPES:
            if (n == 0 || types[n - 1]) {
                fprintf(stderr, "senti logits: --type-ids must follow its --ids\n");
                goto done;
            }
            if (!parse_ids("--type-ids", optarg, &types[n - 1], &tlens[n - 1])) goto done;
            if (tlens[n - 1] != lens[n - 1]) {
                fprintf(stderr, "senti logits: --type-ids has %lld values for %lld ids\n", (long long)tlens[n - 1],
                        (long long)lens[n - 1]);
                goto done;
            }
            any_types = true;
            break;
        case O_THREADS: {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || t < 1 || t > 1024) {
                fprintf(stderr, "senti logits: --threads expects an integer in 1..1024, got '%s'\n", optarg);
                goto done;
            }
            threads = (int)t;
            break;
        }
        case 'h': logits_usage(stdout); rc = 0; goto done;
        default: logits_usage(stderr); goto done;
        }
    }
    if (!dir || (n == 0) == (optind == argc)) {
        if (n && optind < argc) fprintf(stderr, "senti logits: give --ids or TEXT arguments, not both\n");
        logits_usage(stderr);
        goto done;
    }
    if (optind < argc) {
        if (!text_inputs(tok_path ? tok_path : dir, argv + optind, argc - optind, ids, types, lens, &n)) goto done;
        any_types = true;
    }
    rc = 1;
    m = senti_model_load(dir, threads);
    if (!m) {
        fprintf(stderr, "senti logits: %s\n", senti_last_error());
        goto done;
    }
    /* right-pad to the longest input with pad_token_id (0 when the model has
     * none, as many decoders: the mask hides it), mask 0, type 0 */
    const int32_t pad = senti_model_pad_token_id(m) >= 0 ? (int32_t)senti_model_pad_token_id(m) : 0;
    int64_t T = 0;
    for (int i = 0; i < n; i++) T = lens[i] > T ? lens[i] : T;
    bids = calloc((size_t)(n * T), sizeof *bids);
    btypes = calloc((size_t)(n * T), sizeof *btypes);
    bmask = calloc((size_t)(n * T), sizeof *bmask);
    if (!bids || !btypes || !bmask) {
        fprintf(stderr, "senti logits: out of memory\n");
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int64_t t = 0; t < T; t++) {
            const bool real = t < lens[i];
            bids[i * T + t] = real ? ids[i][t] : pad;
            btypes[i * T + t] = real && types[i] ? types[i][t] : 0;
            bmask[i * T + t] = real;
        }
    int64_t shape[3];
    int nd;
    senti_status st = senti_model_forward(m, bids, any_types ? btypes : NULL, bmask, n, T, &out, shape, &nd);
    if (st != SENTI_OK) { /* an id, type id or length the model cannot take is a bad argument */
        fprintf(stderr, "senti logits: %s\n", senti_last_error());
        rc = st == SENTI_ERR_INVALID_ARG ? 2 : 1;
        goto done;
    }
    int64_t total = 1;
    for (int i = 0; i < nd; i++) total *= shape[i];
    const int first = n == 1 ? 1 : 0; /* one input: the batch dim is dropped */
    printf("{\"shape\":[");
    for (int i = first; i < nd; i++) printf("%s%lld", i > first ? "," : "", (long long)shape[i]);
    printf("],\"data\":[");
    for (int64_t i = 0; i < total; i++) { /* JSON has no NaN or infinity: a non-finite value is null */
        if (isfinite(out[i])) printf("%s%.9g", i ? "," : "", out[i]);
        else printf("%snull", i ? "," : "");
    }
    printf("]}\n");
    rc = 0;
done:
    for (int i = 0; i < n; i++) free(ids[i]), free(types[i]);
    free(bids), free(btypes), free(bmask);
    senti_model_output_free(out);
    senti_model_free(m);
    return rc;
}
