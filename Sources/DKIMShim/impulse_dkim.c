/* Verifying whole messages with libopendkim, behind impulse_dkim.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <opendkim/dkim.h>
#include "impulse_dkim.h"

struct impulse_dkim_library {
    DKIM_LIB *lib;
};

/* What a verification's callbacks need: the caller's key look-up and the bound on checks. */
typedef struct {
    impulse_dkim_key_lookup lookup;
    void *context;
    size_t max_checked;
    /* Keys whose look-up failed for now ("selector._domainkey.domain"): libopendkim is told the
       key is missing so it goes on with the other signatures; these report a temporary error. */
    char failed[8][300];
    int failed_count;
} verify_context;

static int key_name(DKIM_SIGINFO *sig, char *name, size_t capacity) {
    const char *selector = (const char *)dkim_sig_getselector(sig);
    const char *domain = (const char *)dkim_sig_getdomain(sig);
    if (!selector || !domain) return 0;
    int written = snprintf(name, capacity, "%s._domainkey.%s", selector, domain);
    return written > 0 && (size_t)written < capacity;
}

static void copy_text(char *target, size_t capacity, const char *text) {
    if (capacity == 0) return;
    snprintf(target, capacity, "%s", text ? text : "");
}

static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buffer, size_t capacity) {
    verify_context *context = dkim_get_user_context(dkim);
    if (!context || !context->lookup) return DKIM_CBSTAT_ERROR;
    char name[300];
    if (!key_name(sig, name, sizeof(name))) return DKIM_CBSTAT_NOTFOUND;
    switch (context->lookup(context->context, name, (char *)buffer, capacity)) {
    case 0: return DKIM_CBSTAT_CONTINUE;
    case 1: return DKIM_CBSTAT_NOTFOUND;
    default:
        if (context->failed_count < 8) copy_text(context->failed[context->failed_count++], sizeof(name), name);
        return DKIM_CBSTAT_NOTFOUND;
    }
}

/* Signatures past the bound are not checked (each costs a key look-up and a hash). */
static DKIM_CBSTAT prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int count) {
    verify_context *context = dkim_get_user_context(dkim);
    if (!context) return DKIM_CBSTAT_CONTINUE;
    for (int i = 0; i < count; i++) {
        if ((size_t)i >= context->max_checked) dkim_sig_ignore(sigs[i]);
    }
    return DKIM_CBSTAT_CONTINUE;
}

impulse_dkim_library *impulse_dkim_library_new(char *error, size_t error_capacity) {
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (!lib) {
        copy_text(error, error_capacity, "libopendkim could not start");
        return NULL;
    }
    int status = dkim_set_key_lookup(lib, key_lookup);
    if (status == DKIM_STAT_OK) status = dkim_set_prescreen(lib, prescreen);
    if (status != DKIM_STAT_OK) {
        copy_text(error, error_capacity, dkim_getresultstr(status));
        dkim_close(lib);
        return NULL;
    }
    impulse_dkim_library *library = calloc(1, sizeof(*library));
    if (!library) {
        dkim_close(lib);
        copy_text(error, error_capacity, "out of memory");
        return NULL;
    }
    library->lib = lib;
    return library;
}

void impulse_dkim_library_free(impulse_dkim_library *library) {
    if (!library) return;
    dkim_close(library->lib);
    free(library);
}

static void describe(DKIM *dkim, int status, char *error, size_t error_capacity) {
    const char *detail = dkim ? dkim_geterror(dkim) : NULL;
    if (detail && *detail) {
        snprintf(error, error_capacity, "%s: %s", dkim_getresultstr(status), detail);
    } else {
        copy_text(error, error_capacity, dkim_getresultstr(status));
    }
}

static void fill(DKIM *dkim, DKIM_SIGINFO *sig, impulse_dkim_signature *out) {
    memset(out, 0, sizeof(*out));
    copy_text(out->domain, sizeof(out->domain), (const char *)dkim_sig_getdomain(sig));
    copy_text(out->selector, sizeof(out->selector), (const char *)dkim_sig_getselector(sig));
    if (dkim_sig_getidentity(dkim, sig, (unsigned char *)out->identity, sizeof(out->identity)) != DKIM_STAT_OK)
        out->identity[0] = 0;
    const unsigned char *algorithm = dkim_sig_gettagvalue(sig, 0, (u_char *)"a");
    copy_text(out->algorithm, sizeof(out->algorithm), (const char *)algorithm);
    copy_text(out->headers, sizeof(out->headers), (const char *)dkim_sig_gettagvalue(sig, 0, (u_char *)"h"));
    dkim_canon_t header = DKIM_CANON_SIMPLE, body = DKIM_CANON_SIMPLE;
    dkim_sig_getcanons(sig, &header, &body);
    out->relaxed_header = header == DKIM_CANON_RELAXED;
    out->relaxed_body = body == DKIM_CANON_RELAXED;
    out->flags = dkim_sig_getflags(sig);
    out->body_hash = dkim_sig_getbh(sig);
    out->error = dkim_sig_geterror(sig);
    copy_text(out->error_text, sizeof(out->error_text), dkim_sig_geterrorstr(out->error));
    unsigned int bits = 0;
    if (dkim_sig_getkeysize(sig, &bits) == DKIM_STAT_OK) out->key_bits = bits;
    out->ignored = (out->flags & DKIM_SIGFLAG_IGNORE) != 0;
    out->passed = (out->flags & DKIM_SIGFLAG_PASSED) != 0 && out->body_hash == DKIM_SIGBH_MATCH;
    out->key_failure = out->error == DKIM_SIGERROR_KEYFAIL;
    if (out->key_bits == 0 && out->error != DKIM_SIGERROR_NOKEY && out->error != DKIM_SIGERROR_KEYDECODE &&
        (out->flags & DKIM_SIGFLAG_PROCESSED) && strcmp(out->algorithm, "ed25519-sha256") == 0)
        out->key_bits = 256; /* libopendkim sizes RSA keys only; Ed25519 keys are 256 bits (RFC 8032) */
}

int impulse_dkim_verify(impulse_dkim_library *library, const unsigned char *message, size_t length,
                        impulse_dkim_key_lookup lookup, void *context, size_t max_checked,
                        impulse_dkim_signature *results, size_t capacity, size_t *count,
                        char *error, size_t error_capacity) {
    *count = 0;
    DKIM_STAT status = DKIM_STAT_OK;
    DKIM *dkim = dkim_verify(library->lib, (const unsigned char *)"impulse", NULL, &status);
    if (!dkim) {
        describe(NULL, status, error, error_capacity);
        return status == DKIM_STAT_OK ? DKIM_STAT_INTERNAL : status;
    }
    verify_context verification;
    memset(&verification, 0, sizeof(verification));
    verification.lookup = lookup;
    verification.context = context;
    verification.max_checked = max_checked;
    dkim_set_user_context(dkim, &verification);
    status = dkim_chunk(dkim, (unsigned char *)message, length);
    if (status == DKIM_STAT_OK) status = dkim_chunk(dkim, NULL, 0);
    if (status == DKIM_STAT_OK) status = dkim_eom(dkim, NULL);
    DKIM_SIGINFO **sigs = NULL;
    int nsigs = 0;
    if (dkim_getsiglist(dkim, &sigs, &nsigs) == DKIM_STAT_OK && sigs) {
        for (int i = 0; i < nsigs && (size_t)i < capacity; i++) {
            fill(dkim, sigs[i], &results[i]);
            char name[300];
            if (key_name(sigs[i], name, sizeof(name))) {
                for (int f = 0; f < verification.failed_count; f++) {
                    if (strcmp(verification.failed[f], name) == 0) results[i].key_failure = 1;
                }
            }
            (*count)++;
        }
    }
    if (status != DKIM_STAT_OK) describe(dkim, status, error, error_capacity);
    dkim_free(dkim);
    return status;
}

const char *impulse_dkim_status_text(int status) { return dkim_getresultstr(status); }
