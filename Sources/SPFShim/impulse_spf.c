/* One SPF check with libspf2, its DNS answered through the caller (Impulse's resolver). */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_dns_rr.h>
#include <spf2/spf_record.h>
#include "impulse_spf.h"

/* What this check's DNS layer answers with; one check runs on one thread at a time. */
typedef struct {
    impulse_spf_lookup lookup;
    void *context;
    int max_lookups, max_void;
    int lookups, void_lookups;
    int over_limit;
} check_state;

static __thread check_state *current;

static SPF_dns_rr_t *answer(SPF_dns_server_t *server, const char *domain, ns_type type, int should_cache) {
    (void)should_cache;
    check_state *state = current;
    char buffer[8192];
    int count = 0, status = 3;
    if (state && state->lookups >= state->max_lookups) {
        state->over_limit = 1;
    } else if (state) {
        state->lookups++;
        status = state->lookup(state->context, domain, (int)type, buffer, sizeof(buffer), &count);
        /* The first look-up is the policy record itself; the limit is on the ones it causes. */
        if ((status == 1 || status == 2) && state->lookups > 1 && ++state->void_lookups > state->max_void)
            state->over_limit = 1;
    }
    int herrno = status == 0 ? NETDB_SUCCESS : status == 1 ? HOST_NOT_FOUND : status == 2 ? NO_DATA : TRY_AGAIN;
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(server, domain, type, 0, herrno);
    if (!rr || status != 0) return rr;
    const char *item = buffer;
    int kept = 0;
    for (int i = 0; i < count && item < buffer + sizeof(buffer); i++) {
        size_t length = strnlen(item, buffer + sizeof(buffer) - item);
        switch (type) {
        case ns_t_a:
            if (SPF_dns_rr_buf_realloc(rr, kept, sizeof(struct in_addr)) == SPF_E_SUCCESS &&
                inet_pton(AF_INET, item, &rr->rr[kept]->a) == 1) kept++;
            break;
        case ns_t_aaaa:
            if (SPF_dns_rr_buf_realloc(rr, kept, sizeof(struct in6_addr)) == SPF_E_SUCCESS &&
                inet_pton(AF_INET6, item, &rr->rr[kept]->aaaa) == 1) kept++;
            break;
        case ns_t_mx: case ns_t_txt: case ns_t_ptr:
            if (SPF_dns_rr_buf_realloc(rr, kept, length + 1) == SPF_E_SUCCESS) {
                memcpy(rr->rr[kept]->txt, item, length);
                rr->rr[kept]->txt[length] = 0;
                kept++;
            }
            break;
        default: break;
        }
        item += length + 1;
    }
    rr->num_rr = kept;
    if (kept == 0) rr->herrno = NO_DATA;
    return rr;
}

static void forget(SPF_dns_server_t *server) { free(server); }

/* Exported by libspf2 but declared only in its internal header: fills in the response's
   comments and Received-SPF field for a result. */
SPF_errcode_t SPF_i_done(SPF_response_t *response, SPF_result_t result, SPF_reason_t reason, SPF_errcode_t err);

/* check_host() for the MAIL FROM identity: SPF_request_query_mailfrom's steps without its
   shortcut that passes every 127.0.0.0/8 and ::1 client unconditionally — a result has to be
   what the domain's record says (Impulse decides elsewhere what local clients may do). */
static SPF_errcode_t query_mailfrom(SPF_request_t *request, SPF_response_t **responsep) {
    SPF_response_t *response = SPF_response_new(request);
    *responsep = response;
    if (!response) return SPF_E_NO_MEMORY;
    request->cur_dom = request->use_helo ? request->helo_dom : request->env_from_dp;
    SPF_record_t *record = NULL;
    SPF_errcode_t error = SPF_server_get_record(request->spf_server, request, response, &record);
    if (error != SPF_E_SUCCESS) {
        if (record) SPF_record_free(record);
        SPF_i_done(response, response->result, response->reason, response->err);
        return error;
    }
    response->spf_record_exp = record;
    error = SPF_record_interpret(record, request, response, 0);
    SPF_record_free(record);
    response->spf_record_exp = NULL;
    return error;
}

static void copy_text(char *target, size_t capacity, const char *text) {
    snprintf(target, capacity, "%s", text ? text : "");
}

int impulse_spf_check(const char *ip, const char *sender, const char *helo, const char *receiver,
                      impulse_spf_lookup lookup, void *context, int max_lookups, int max_void,
                      impulse_spf_result *result) {
    memset(result, 0, sizeof(*result));
    SPF_dns_server_t *dns = calloc(1, sizeof(*dns));
    if (!dns) return -1;
    dns->destroy = forget;
    dns->lookup = answer;
    dns->name = "impulse";
    SPF_server_t *server = SPF_server_new_dns(dns, 0);
    if (!server) { free(dns); return -1; }
    if (receiver && *receiver) SPF_server_set_rec_dom(server, receiver);
    SPF_request_t *request = SPF_request_new(server);
    int status = -1;
    if (request) {
        int bad = strchr(ip, ':') ? SPF_request_set_ipv6_str(request, ip) : SPF_request_set_ipv4_str(request, ip);
        if (!bad && helo && *helo) SPF_request_set_helo_dom(request, helo);
        if (!bad) SPF_request_set_env_from(request, sender);
        if (!bad) {
            check_state state = { lookup, context, max_lookups, max_void, 0, 0, 0 };
            current = &state;
            SPF_response_t *response = NULL;
            SPF_errcode_t error = query_mailfrom(request, &response);
            current = NULL;
            result->result = response ? (int)SPF_response_result(response) : (int)SPF_RESULT_INVALID;
            /* An evaluation that stopped on an error has no result of its own: a DNS failure is
               temporary (RFC 7208 §2.6.6), anything else in the record permanent (§2.6.7). */
            int decided = result->result == (int)SPF_RESULT_INVALID || state.over_limit;
            if (result->result == (int)SPF_RESULT_INVALID)
                result->result = error == SPF_E_DNS_ERROR ? (int)SPF_RESULT_TEMPERROR : (int)SPF_RESULT_PERMERROR;
            if (state.over_limit) result->result = (int)SPF_RESULT_PERMERROR;
            copy_text(result->result_text, sizeof(result->result_text), SPF_strresult((SPF_result_t)result->result));
            if (response) {
                /* The comments and Received-SPF field say the result decided here. */
                if (decided)
                    SPF_i_done(response, (SPF_result_t)result->result, SPF_REASON_FAILURE,
                               state.over_limit ? SPF_E_BIG_DNS : error);
                copy_text(result->comment, sizeof(result->comment), SPF_response_get_header_comment(response));
                copy_text(result->received_spf, sizeof(result->received_spf), SPF_response_get_received_spf(response));
                SPF_response_free(response);
            }
            result->lookups = state.lookups;
            result->void_lookups = state.void_lookups;
            status = 0;
        }
        SPF_request_free(request);
    }
    SPF_server_free(server);
    return status;
}
