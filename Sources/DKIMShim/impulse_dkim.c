/* Signing and verifying whole messages with libopendkim, behind impulse_dkim.h. */
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

/* A NULL-terminated copy of a name list, as DKIM_OPTS_SIGNHDRS and friends take it. */
static const char **name_list(const char *const *names, size_t count) {
    const char **list = calloc(count + 1, sizeof(char *));
    if (!list) return NULL;
    for (size_t i = 0; i < count; i++) list[i] = names[i];
    return list;
}

static int set_names(DKIM_LIB *lib, int option, const char *const *names, size_t count) {
    if (count == 0) return DKIM_STAT_OK;
    const char **list = name_list(names, count);
    if (!list) return DKIM_STAT_NORESOURCE;
    /* libopendkim copies the list. */
    int status = dkim_options(lib, DKIM_OP_SETOPT, option, list, sizeof(list));
    free(list);
    return status;
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

impulse_dkim_library *impulse_dkim_library_new(const impulse_dkim_settings *settings, char *error, size_t error_capacity) {
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (!lib) {
        copy_text(error, error_capacity, "libopendkim could not start");
        return NULL;
    }
    int status = DKIM_STAT_OK;
    if (settings) {
        unsigned int flags = 0;
        dkim_options(lib, DKIM_OP_GETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
        if (settings->body_length_tag) flags |= DKIM_LIBFLAGS_SIGNLEN;
        if (settings->copy_headers) flags |= DKIM_LIBFLAGS_ZTAGS;
        status = dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
        if (status == DKIM_STAT_OK && settings->signature_ttl > 0) {
            uint64_t ttl = settings->signature_ttl;
            status = dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNATURETTL, &ttl, sizeof(ttl));
        }
        if (status == DKIM_STAT_OK)
            status = set_names(lib, DKIM_OPTS_SIGNHDRS, settings->sign_headers, settings->sign_header_count);
        if (status == DKIM_STAT_OK)
            status = set_names(lib, DKIM_OPTS_OVERSIGNHDRS, settings->oversign_headers, settings->oversign_header_count);
        if (status == DKIM_STAT_OK)
            status = set_names(lib, DKIM_OPTS_SKIPHDRS, settings->skip_headers, settings->skip_header_count);
    }
    if (status == DKIM_STAT_OK) status = dkim_set_key_lookup(lib, key_lookup);
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

/* libopendkim folds with a bare LF; a spooled header section has CRLF line ends. */
static char *with_crlf(const unsigned char *text, size_t length) {
    size_t extra = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) extra++;
    }
    char *out = malloc(length + extra + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out[j++] = '\r';
        out[j++] = (char)text[i];
    }
    out[j] = 0;
    return out;
}

int impulse_dkim_sign(impulse_dkim_library *library, const unsigned char *message, size_t length,
                      const unsigned char *key, size_t key_length, const char *selector, const char *domain,
                      const char *identity, int relaxed_header, int relaxed_body, int algorithm,
                      char **signature, char *error, size_t error_capacity) {
    *signature = NULL;
    /* dkim_sign measures the key with strlen. */
    unsigned char *key_text = malloc(key_length + 1);
    if (!key_text) {
        copy_text(error, error_capacity, "out of memory");
        return DKIM_STAT_NORESOURCE;
    }
    memcpy(key_text, key, key_length);
    key_text[key_length] = 0;
    DKIM_STAT status = DKIM_STAT_OK;
    DKIM *dkim = dkim_sign(library->lib, (const unsigned char *)"impulse", NULL, key_text,
                           (const unsigned char *)selector, (const unsigned char *)domain,
                           relaxed_header ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE,
                           relaxed_body ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE, algorithm, -1, &status);
    if (!dkim) {
        describe(NULL, status, error, error_capacity);
        free(key_text);
        return status == DKIM_STAT_OK ? DKIM_STAT_INTERNAL : status;
    }
    /* libopendkim 2.11 folds an ed25519-sha256 signature's field differently from what it
       signed, which only simple header canonicalisation notices: such fields stay unfolded. */
    if (algorithm == DKIM_SIGN_ED25519SHA256 && !relaxed_header) status = dkim_set_margin(dkim, 0);
    if (status == DKIM_STAT_OK && identity && *identity)
        status = dkim_set_signer(dkim, (const unsigned char *)identity);
    if (status == DKIM_STAT_OK) status = dkim_chunk(dkim, (unsigned char *)message, length);
    if (status == DKIM_STAT_OK) status = dkim_chunk(dkim, NULL, 0);
    if (status == DKIM_STAT_OK) status = dkim_eom(dkim, NULL);
    unsigned char *header = NULL;
    size_t header_length = 0;
    if (status == DKIM_STAT_OK)
        status = dkim_getsighdr_d(dkim, strlen(DKIM_SIGNHEADER) + 2, &header, &header_length);
    if (status == DKIM_STAT_OK) {
        *signature = with_crlf(header, header_length);
        if (!*signature) status = DKIM_STAT_NORESOURCE;
    }
    if (status != DKIM_STAT_OK) describe(dkim, status, error, error_capacity);
    dkim_free(dkim);
    free(key_text);
    return status;
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
