/* heads.c — extra heads over one encoder: a model directory's heads.json +
 * heads.safetensors (or a GGUF's senti.heads key, read into the config as
 * "senti_heads", with its head.<name>.* tensors), validated at load and run
 * by the family's forward beside its own head (see senti_forward_opts.heads).
 *
 * heads.json: {"primary": NAME (the model's own head; default "main"),
 *              "heads": [{"name", "type": "sequence" | "token", "labels": [..],
 *                         "problem_type"?}]}
 * tensors:    head.<name>.dense.weight [H, H], .bias [H]  (sequence; optional pair)
 *             head.<name>.out.weight [L, H], .bias [L]
 * A sequence head is out(act(dense(first token))) with the family's pooler
 * activation (tanh; ReLU for DistilBERT), or out(first token) without dense;
 * a token head is out(every token).
 *
 * Invariant: after model_heads_load every head has a valid name, labels and
 * f32 weights of the shapes above. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../kernels/kernels.h"
#include "arch.h"

void model_heads_free(senti_model *m) {
    for (int64_t k = 0; k < m->n_xheads; k++) {
        model_xhead *h = &m->xheads[k];
        senti_mfree(h->labels);
        model_w_free(&h->dense_w), model_w_free(&h->dense_b), model_w_free(&h->out_w), model_w_free(&h->out_b);
    }
    senti_mfree(m->xheads);
    json_decref(m->xroot);
    st_weights_free(m->xw);
    m->xheads = NULL, m->n_xheads = 0, m->xroot = NULL, m->xw = NULL;
}

/* w = name as f32 [d0] or [d0, d1] (d1 0: 1-D); absent and optional: w left empty. */
static senti_status head_tensor(const st_weights *ws, const char *src, const char *name, int64_t d0, int64_t d1,
                                bool optional, model_w *w) {
    const st_tensor *t = st_weights_find(ws, name);
    if (!t) return optional ? SENTI_OK : senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' is missing", src, name);
    const int nd = d1 ? 2 : 1;
    if (t->ndim != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1) ||
        (t->type != SENTI_TYPE_F32 && t->type != SENTI_TYPE_F16 && t->type != SENTI_TYPE_BF16))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' must be a float [%lld%s%.0lld]", src, name,
                           (long long)d0, nd == 2 ? ", " : "", (long long)d1);
    float *f = senti_malloc((size_t)t->numel * sizeof *f + 1);
    if (!f) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory reading '%s'", src, name);
    *w = (model_w){f, f, SENTI_TYPE_F32, nd, {d0, d1}};
    return st_tensor_read_f32(t, f);
}

senti_status model_heads_load(senti_model *m, bool gguf) {
    char path[4200], name[256];
    json_error_t err;
    json_t *spec = json_object_get(cfg_root(m->cfg), "senti_heads"); /* a GGUF's */
    const char *src = gguf ? m->dir : path;
    if (spec) {
        m->xroot = json_incref(spec);
    } else if (!gguf) {
        snprintf(path, sizeof path, "%s/heads.json", m->dir);
        if (access(path, F_OK) != 0) return SENTI_OK; /* no extra heads */
        if (!(m->xroot = json_load_file(path, JSON_REJECT_DUPLICATES, &err)))
            return senti_error(SENTI_ERR_BAD_FILE, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    } else {
        return SENTI_OK;
    }
    if (!m->desc->family->extras)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: extra heads need a BERT, RoBERTa or DistilBERT encoder", src);
    json_t *prim = json_object_get(m->xroot, "primary"), *list = json_object_get(m->xroot, "heads");
    if (!json_is_object(m->xroot) || (prim && !json_is_string(prim)) || !json_is_array(list))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: want {\"primary\": NAME, \"heads\": [...]}", src);
    m->primary_name = prim ? json_string_value(prim) : "main";
    const size_t n = json_array_size(list);
    if (n > 64) return senti_error(SENTI_ERR_BAD_FILE, "%s: %zu heads (at most 64)", src, n);
    if (!gguf) {
        snprintf(path, sizeof path, "%s/heads.safetensors", m->dir);
        if (!(m->xw = st_weights_load(path))) return SENTI_ERR_BAD_FILE;
        snprintf(path, sizeof path, "%s/heads.json", m->dir);
    }
    const st_weights *ws = gguf ? m->w : m->xw;
    const char *wsrc = st_weights_source(ws);
    if (!(m->xheads = senti_calloc(n ? n : 1, sizeof *m->xheads)))
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", src);
    const int64_t H = m->hidden;
    for (size_t k = 0; k < n; k++) {
        json_t *h = json_array_get(list, k), *jn = json_object_get(h, "name"), *jt = json_object_get(h, "type"),
               *jl = json_object_get(h, "labels"), *jp = json_object_get(h, "problem_type");
        const char *nm = json_string_value(jn), *ty = json_string_value(jt);
        if (!nm || !*nm || strlen(nm) > 64 || !ty || (strcmp(ty, "sequence") && strcmp(ty, "token")) ||
            !json_is_array(jl) || json_array_size(jl) < 1 || (jp && !json_is_string(jp)))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: heads[%zu]: want {\"name\", \"type\": \"sequence\"|\"token\", "
                               "\"labels\": [..]}", src, k);
        for (const char *c = nm; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
                return senti_error(SENTI_ERR_BAD_FILE, "%s: head name '%s': letters, digits, - and _ only", src, nm);
        if (!strcmp(nm, m->primary_name))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: head name '%s' is the primary's", src, nm);
        for (size_t j = 0; j < k; j++)
            if (!strcmp(nm, m->xheads[j].name)) return senti_error(SENTI_ERR_BAD_FILE, "%s: two heads named '%s'", src, nm);
        model_xhead *x = &m->xheads[k];
        m->n_xheads = (int64_t)k + 1;
        x->name = nm;
        x->kind = !strcmp(ty, "token") ? SENTI_HEAD_TOKEN_CLASSIFICATION : SENTI_HEAD_SEQUENCE_CLASSIFICATION;
        x->multi_label = jp && !strcmp(json_string_value(jp), "multi_label_classification");
        x->n_labels = (int64_t)json_array_size(jl);
        if (!(x->labels = senti_calloc((size_t)x->n_labels, sizeof *x->labels)))
            return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", src);
        for (int64_t l = 0; l < x->n_labels; l++)
            if (!(x->labels[l] = json_string_value(json_array_get(jl, (size_t)l))))
                return senti_error(SENTI_ERR_BAD_FILE, "%s: head '%s': label %lld is not a string", src, nm, (long long)l);
        senti_status st;
        const int64_t L = x->n_labels;
        snprintf(name, sizeof name, "head.%s.out.weight", nm);
        if ((st = head_tensor(ws, wsrc, name, L, H, false, &x->out_w))) return st;
        snprintf(name, sizeof name, "head.%s.out.bias", nm);
        if ((st = head_tensor(ws, wsrc, name, L, 0, false, &x->out_b))) return st;
        if (x->kind == SENTI_HEAD_TOKEN_CLASSIFICATION) continue;
        snprintf(name, sizeof name, "head.%s.dense.weight", nm);
        if ((st = head_tensor(ws, wsrc, name, H, H, true, &x->dense_w))) return st;
        snprintf(name, sizeof name, "head.%s.dense.bias", nm);
        if ((st = head_tensor(ws, wsrc, name, H, 0, true, &x->dense_b))) return st;
        if (!x->dense_w.data != !x->dense_b.data)
            return senti_error(SENTI_ERR_BAD_FILE, "%s: head '%s': dense.weight and dense.bias go together", wsrc, nm);
    }
    return SENTI_OK;
}

senti_tensor *model_head_build(senti_graph *g, const model_xhead *x, senti_tensor *hidden, senti_tensor *first,
                               int64_t n_tok, blk_act act) {
    if (x->kind == SENTI_HEAD_TOKEN_CLASSIFICATION) return blk_linear(g, hidden, &x->out_w, &x->out_b);
    /* the first token of each sequence [B, 1, H] (packed: its rows by index) */
    senti_tensor *h = first ? op_get_rows(g, op_reshape_2d(g, hidden, n_tok, hidden ? hidden->ne[3] : 0), first)
                            : blk_first_token(g, hidden);
    if (x->dense_w.data) h = blk_act_apply(g, blk_linear(g, h, &x->dense_w, &x->dense_b), act);
    return blk_linear(g, h, &x->out_w, &x->out_b);
}

int64_t senti_model_extra_heads(const senti_model *m) { return m ? m->n_xheads : 0; }

const char *senti_model_primary_head_name(const senti_model *m) {
    return m && m->primary_name ? m->primary_name : "main";
}

senti_status senti_model_extra_head(const senti_model *m, int64_t k, senti_head_info *out) {
    if (!m || !out || k < 0 || k >= m->n_xheads)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_model_extra_head: no head %lld", (long long)k);
    const model_xhead *x = &m->xheads[k];
    *out = (senti_head_info){x->name, x->kind, x->n_labels, x->labels, x->multi_label};
    return SENTI_OK;
}
