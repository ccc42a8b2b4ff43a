import Foundation

/// Momentum's hook points (Momentum's Lua API manual: the hook list; docs/lua/README.md): each core
/// hook's C prototype, parsed into what a Lua implementation receives. A script's `<scope>_<hook>`
/// key is checked against this registry at load; when Impulse fires a hook it marshals the
/// arguments by the prototype (PolicyState.fireHook).
public struct HookPrototype: Sendable, Equatable {
    /// What one Lua argument is.
    public enum Parameter: Sendable, Equatable {
        case message // ec_message * → the msg object
        case accept // accept_construct * → the accept object
        case validationContext // validate_context * → the vctx
        case buffer(String) // char * buf, int len → one writable ec_string bounded by len
        case text(String) // const char * → a string (va_list: the formatted text)
        case number(String) // int, time_t, struct timeval * … → a number (times in seconds)
        case opaque(String, String) // another C object → a table { type = "…" } with what Impulse knows of it
    }

    /// The Lua key: `core_<hook>`.
    public let name: String
    /// The C return type (`void` hooks' return values are ignored).
    public let returns: String
    /// The arguments after the C closure, as Lua receives them (the closure is not passed).
    public let parameters: [Parameter]

    /// Parses a C argument list such as `ec_message * msg, domain_record * dr, const char * note, int note_len`.
    public init(name: String, returns: String, arguments: String) {
        self.name = name
        self.returns = returns
        var parameters: [Parameter] = []
        let pieces = arguments.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        var index = 0
        while index < pieces.count {
            let piece = pieces[index]
            let parameterName = String(piece.split(whereSeparator: { $0 == " " || $0 == "*" }).last ?? "")
            let type = piece.dropLast(parameterName.count).replacingOccurrences(of: " ", with: "")
            let next = index + 1 < pieces.count ? pieces[index + 1] : ""
            if (type == "char*" || type == "constchar*"), next.hasPrefix("int "), next.hasSuffix("len") {
                // A (char *, int) pair is one ec_string whose capacity is the int (Momentum's msys.registerModule
                // page).
                parameters.append(type == "char*" ? .buffer(parameterName) : .text(parameterName))
                index += 2
                continue
            }
            switch type {
            case "ec_message*", "constec_message*", "email_message*": parameters.append(.message)
            case "accept_construct*": parameters.append(.accept)
            case "validate_context*": parameters.append(.validationContext)
            case "constchar*", "char*", "va_list": parameters.append(.text(parameterName))
            case "int", "u_int32_t", "uint64_t", "time_t", "structtimeval*", "time_t*", "int*":
                parameters.append(.number(parameterName))
            default:
                var cType = type.replacingOccurrences(of: "*", with: "")
                for prefix in ["const", "struct"] where cType.hasPrefix(prefix) { cType.removeFirst(prefix.count) }
                parameters.append(.opaque(cType, parameterName))
            }
            index += 1
        }
        self.parameters = parameters
    }
}

/// Every core hook Impulse knows, and which of them it fires.
public enum HookRegistry {
    /// The hooks Impulse calls (the others are known, and a module implementing them is told
    /// they are not called).
    public static let fired: Set<String> = [
        "core_validate_accept", "core_config_get_message_routing_domain", "core_final_validation2",
        "core_final_validation",
        "core_post_final_validation", "core_pre_msg_each_rcpt", "core_post_msg_each_rcpt",
        "core_log_delivery_v1", "core_log_transient_failure_v1", "core_log_permanent_failure_v1",
        "core_log_rejection_v1", "core_ec_message_enqueue", "core_pre_mailq_message_requeue",
        "core_get_outbound_tls_parameters", "msg_gen_data_spool"
    ]
    /// Hooks Impulse will fire but does not yet (a module implementing one is told); none now.
    public static let declaredForDelivery: Set<String> = []

    public static let prototypes: [String: HookPrototype] = Dictionary(
        table.map { ($0.0, HookPrototype(name: $0.0, returns: $0.1, arguments: $0.2)) },
        uniquingKeysWith: { first, _ in first })

    /// (Lua key, C return type, C arguments after the closure).
    static let table: [(String, String, String)] = [
        (
            "core___mail_queue_maintain", "int",
            "domain_record * dr, int binding_slot, Skiplist * sl, struct timeval * now, int goalsz, int reserve"
        ),
        ("core_aaa_log", "void", "ec_accounting_record * rec"),
        ("core_annotate_batch", "int", "sp_async_message * head"),
        (
            "core_assess_batch", "int",
            """
            delivery_construct * dc, domain_record * dr, ec_binding_slot bs, connection * conn, int limit_pb, int \
            limit_pc
            """
        ),
        ("core_binding_group_choose_binding", "int", "ec_message * msg, const char * binding_group"),
        ("core_body_modify", "void", "const ec_message * mess, io_object iop"),
        ("core_bounce_error_classify", "int", "const char * body, int len, int * pos"),
        ("core_cache_get", "int", "const char * name, const void * key, int klen, void value, int * vlen"),
        (
            "core_cache_set", "void",
            "const char * name, const void * key, int klen, void * value, int vlen, u_int32_t whence"
        ),
        (
            "core_check_outbound_conn_throttle", "int",
            "int binding_id, domain_record * dr, struct timeval * now, struct timeval * later"
        ),
        (
            "core_check_outbound_mess_throttle", "int",
            "int binding_id, domain_record * dr, struct timeval * now, struct timeval * later"
        ),
        (
            "core_config_get_domain_relay", "int",
            "generic_module_infrastructure * cs, const char * domain, int * retval"
        ),
        (
            "core_config_get_message_routing_domain", "int",
            "generic_module_infrastructure * cs, ec_message * m, char * buff, int len"
        ),
        ("core_config_option_set", "int", "ec_config_header * cfghdr, ec_config_option * opt, void container"),
        ("core_config_option_set", "void", "ec_config_header * cfghdr, ec_config_option * opt, void container"),
        ("core_connection_goal", "void", "domain_record * dr, int binding_slot, Skiplist * aq, int * goal"),
        (
            "core_connection_post_bind", "int",
            "domain_record * dr, int binding_slot, int fd, struct sockaddr * addr, int addr_len"
        ),
        ("core_control_allow_writable_config", "int", "command_construct * cc, string * response"),
        (
            "core_control_allow_writable_config2", "int",
            "command_construct * cc, int argc, argv[], ec_control_context * input, ec_control_context * output"
        ),
        ("core_control_post_command", "void", "command_construct * cc, string * response"),
        (
            "core_control_post_control", "void",
            "command_construct * cc, int argc, argv[], ec_control_context * input, ec_control_context * output"
        ),
        ("core_control_pre_command", "int", "command_construct * cc, string * response"),
        ("core_control_shutdown", "void", ""),
        ("core_control_shutdown_ex", "void", "int die, int ret, const char * file, int lineno"),
        ("core_dec_inbound_connections", "void", "char * conntype, int fd, accept_construct * ac"),
        ("core_dec_outbound_connections", "void", "connection_handle * connh"),
        ("core_disk_queue_core_inject", "void", "email_message * em"),
        ("core_dns_get_As", "int", "const char * name, mx_info_closure * mxinfo"),
        ("core_dns_get_MXs", "int", "const char * domain"),
        ("core_domain_requires_master_scheduler", "int", "const char * domain"),
        ("core_ec_bag_find", "void *", "ec_bag * bag, const char * type_name"),
        ("core_ec_message_enqueue", "int", "ec_message * msg, struct timeval * now"),
        ("core_ec_message_mcmt_fixup", "int", "ec_message * msg"),
        ("core_ec_message_mcmt_pre_fixup", "int", "ec_message * msg, int mcmt_reception"),
        (
            "core_ec_message_part_get_content_type", "int",
            "ec_message_part * part, char * content_type_buf, int ct_len, char * charset_buf, int charset_len"
        ),
        ("core_ec_message_set_next_attempt", "int", "ec_message * msg, struct timeval * now, int * rv"),
        (
            "core_ec_mime_component_extract_content_type", "int",
            "ec_mime_component * part, char * content_type_buf, int ct_len, char * charset_buf, int charset_len"
        ),
        (
            "core_ec_ssl_SSL_CTX_fixup", "void",
            """
            struct ssl_ctx_st *sslctx, int type, const char *domain, const char *certfile, const char *keyfile, \
            const char *clientca, const char *cipher_list
            """
        ),
        ("core_esmtp_message_sp_async_samfunc", "sp_async_message*", "message_construct * mc"),
        ("core_final_validation", "void", "ec_message * msg, accept_construct * ac, validate_context * ctx"),
        (
            "core_gauge_cache", "void",
            """
            const char * cache, const char * key, int keylen, int addend, uint64_t expiry_time, int maxitems, int \
            replicated
            """
        ),
        ("core_generate_bounces", "int", "ec_message * mess, int * enabled"),
        ("core_generate_rfc3464_message", "int", "message, action, mdn"),
        ("core_generate_rfc3464_message_preamble", "int", "ec_message * message, dsn_actype action, string * body"),
        ("core_generate_soft_bounce_message", "email_message*", "email_message * message"),
        ("core_generate_soft_bounce_message_preamble", "int", "email_message * message, string * body"),
        (
            "core_get_inbound_tls_parameters", "int",
            "message_construct * mc, validate_context * ctx, ec_ssl_ctx_params * params"
        ),
        (
            "core_get_msg_expiration_params", "int",
            "abstract_message * am, time_t * message_expiration, time_t * retry_interval, int * max_retries"
        ),
        ("core_get_outbound_tls_parameters", "int", "ec_message * msg, ec_ssl_ctx_params * params"),
        (
            "core_get_protocol_string_for_trace_headers", "const char*",
            "accept_construct * ac, validate_context * ctx, email_message * mess"
        ),
        (
            "core_get_received_header_text", "int",
            "ec_message * msg, message_construct * mc, accept_construct * ac, validate_context * ctx, string * response"
        ),
        (
            "core_inbound_smtp_tls_verify_callback", "int",
            """
            message_construct * mc, ec_ssl_ctx * ctx, int preverify_ok, const char * subject, const char * issuer, \
            struct ssl_x509_store_ctx_st * x509ctx
            """
        ),
        ("core_inc_inbound_connections", "void", "char * conntype, int fd, accept_construct * ac"),
        ("core_inc_outbound_conn_throttle", "void", "int binding_id, domain_record * dr"),
        ("core_inc_outbound_connections", "void", "connection_handle * connh"),
        ("core_inc_outbound_mess_throttle", "void", "int binding_id, domain_record * dr"),
        ("core_is_adaptive_scope_global", "int", "int binding_slot, const char * domain"),
        (
            "core_log_attempt_v1", "void",
            "ec_message * msg, domain_record * dr, struct timeval * now, const char * note, int note_len"
        ),
        (
            "core_log_client_connection_failure", "void",
            "struct sockaddr * addr, int err, domain_record * dr, int binding_slot, struct timeval * now"
        ),
        (
            "core_log_client_connection_success", "void",
            "struct sockaddr * addr, domain_record * dr, int binding_slot, struct timeval * now"
        ),
        (
            "core_log_delivery_v1", "void",
            "ec_message * msg, domain_record * dr, struct timeval * now, const char * note, int note_len"
        ),
        ("core_log_error", "void", "struct timeval * now, int level, const char * format, va_list arg"),
        (
            "core_log_permanent_failure_v1", "void",
            "ec_message * msg, domain_record * dr, struct timeval * now, const char * note, int note_len"
        ),
        (
            "core_log_reception_v1", "void",
            "accept_construct * ac, ec_message * msg, struct timeval * now, const char * note, int note_len"
        ),
        (
            "core_log_rejection", "void",
            """
            struct timeval * now, accept_construct * ac, validate_context * ctx, int phase, const char * format, \
            va_list args
            """
        ),
        ("core_log_reopen", "void", ""),
        (
            "core_log_spool_import", "void",
            "ec_message * m, message_id * orig_id, struct timeval * now, ec_spool_ctx * ctx, int result"
        ),
        (
            "core_log_transient_failure_v1", "void",
            "ec_message * msg, domain_record * dr, struct timeval * now, const char * note, int note_len"
        ),
        (
            "core_mail_queue_get_next_active", "abstract_message *",
            "domain_record * dr, int binding_slot, connection_handle * connh"
        ),
        ("core_mail_queue_insert_active", "int", "mail_queue * mq, abstract_message * message"),
        ("core_mail_queue_maintain_domain", "void", "domain_record * dr, struct timeval * now, int * rv"),
        (
            "core_mailq_get_next_active", "ec_message *",
            "domain_record * dr, int binding_slot, connection_handle * connh"
        ),
        ("core_mailq_insert_active", "int", "mail_queue * mq, ec_message * msg"),
        ("core_message_body_in_core", "int", "email_message * mess, int pull, int * result"),
        (
            "core_outbound_smtp_tls_verify_callback", "int",
            """
            delivery_construct * dc, ec_ssl_ctx * sslctx, int preverify_ok, const char * subject, const char * \
            issuer, struct ssl_x509_store_ctx_st * x509ctx
            """
        ),
        ("core_outbound_tls_ca", "char *", "email_message * message"),
        ("core_outbound_tls_cert", "char *", "email_message * message"),
        ("core_outbound_tls_ciphers", "char *", "email_message * message"),
        ("core_outbound_tls_key", "char *", "email_message * message"),
        ("core_outbound_tls_verify", "int", "email_message * message"),
        ("core_post_assemble_fwd_message", "void", "email_message * orig, email_message * forwarded"),
        ("core_post_config_commit", "void", ""),
        (
            "core_post_dns_handle_a", "void",
            "mx_info_closure * mxinfo, int status, unsigned char * abuf, int alen, const char * qdomain"
        ),
        (
            "core_post_dns_handle_mx", "void",
            "mx_routes * routes, int status, unsigned char * abuf, int alen, const char * qdomain"
        ),
        ("core_post_drop_privileges", "int", ""),
        ("core_post_event_read", "void", "Event * e, const char * buf, ssize_t buflen"),
        ("core_post_event_write", "void", "Event * e, const char * buf, ssize_t buflen"),
        ("core_post_generate_rfc3464_message", "void", "ec_message * orig, ec_message * bounce, dsn_actype action"),
        ("core_post_generate_soft_bounce_message", "void", "email_message * orig, email_message * bounce"),
        (
            "core_post_initiate_connection_smtp", "void",
            "domain_record * dr, int binding_slot, struct timeval * now, int conn_fd"
        ),
        ("core_post_mail_queue_maintain_domain", "void", "domain_record * dr, struct timeval * now, int * rv"),
        (
            "core_post_read_smtp", "int",
            "delivery_construct * dc, int len, int expected, int newstate, struct timeval * now, int * mask"
        ),
        ("core_post_smtp_command", "void", "int * b, message_construct * c, validate_context * d"),
        (
            "core_post_validate_data_spool_each_rcpt_v1", "void",
            "ec_message * m, accept_construct * ac, validate_context * c"
        ),
        ("core_post_validate_set_binding", "void", "ec_message * m"),
        ("core_pre_console_release", "void", ""),
        (
            "core_pre_dns_handle_a", "int",
            "mx_info_closure * mxinfo, int status, unsigned char * abuf, int alen, const char * qdomain"
        ),
        (
            "core_pre_dns_handle_mx", "int",
            "mx_routes * routes, int status, unsigned char * abuf, int alen, const char * qdomain"
        ),
        ("core_pre_drop_privileges", "int", ""),
        ("core_pre_ec_can_relay_to", "void", "const char * domain, int * rv, int * cont"),
        ("core_pre_esmtp_auth", "int", "accept_construct * ac, message_construct * mc, validate_context * c"),
        ("core_pre_event_close", "void", "Event * e"),
        ("core_pre_mail_queue_maintain_domain", "void", "domain_record * dr, struct timeval * now, int * rv"),
        ("core_pre_mail_queue_message_requeue", "void", "abstract_message * b, struct timeval * c"),
        ("core_pre_mailq_message_requeue", "void", "ec_message * msg, struct timeval * now"),
        (
            "core_pre_read_smtp", "int",
            "delivery_construct * dc, int expected, int newstate, struct timeval * now, int * mask"
        ),
        (
            "core_premigrate_outbound_connection", "void",
            "connection_handle * connh, domain_record * src, domain_record * dest"
        ),
        ("core_rfc3464_inline_message_fragment", "int", "string * response, ec_message * message, dsn_actype action"),
        ("core_server_esmtp_session_abort", "void", "accept_construct * ac"),
        ("core_set_delayed_queue_event", "int", "mail_queue * mq, struct timeval * now"),
        ("core_smtp_client_mailfrom_args", "int", "delivery_construct * dc, smtp_client_args * args"),
        ("core_smtp_client_rcptto_args", "int", "delivery_construct * dc, smtp_client_args * args"),
        ("core_smtp_client_xclient_args", "int", "delivery_construct * dc, smtp_client_args * args"),
        ("core_smtp_error_classify", "int", "const char * response, const char * domain"),
        ("core_smtp_should_session_shutdown", "int", "delivery_construct * dc"),
        ("core_swap_in_meta", "int", "ec_message * msg, int flags, int serror, int * rv"),
        ("core_swap_out_meta", "int", "ec_message * mess, int flags"),
        ("core_swap_out_multi", "int", "sp_async_message * head, int * success"),
        ("core_sys_init", "void", ""),
        ("core_use_outbound_tls", "int", "email_message * message"),
        ("core_validate_accept", "int", "accept_construct * ac, validate_context * c"),
        ("core_validate_auth", "int", "validate_context * c, struct ec_auth_info * auth_info, int auth_status"),
        ("core_validate_connect", "void", "accept_construct * ac, validate_context * c"),
        (
            "core_validate_data_spool_each_rcpt", "void",
            "ec_message * msg, accept_construct * ac, validate_context * ctx"
        ),
        (
            "core_validate_expand_string", "int",
            """
            char result, char * s, char * local_part, char * domain, char * current_domain, accept_construct * ac, \
            validate_context * ctx, dns_cache_query * need
            """
        ),
        (
            "core_veto_host_connection", "int",
            "host_record * host, domain_record * dr, int binding_slot, int max_conns, int cur_conns"
        ),
        // Momentum 4 hooks used by public scripts but not in the C reference (docs/lua/README.md, hook points).
        ("core_pre_msg_each_rcpt", "void", "ec_message * msg, accept_construct * ac"),
        ("core_post_msg_each_rcpt", "void", "ec_message * msg, accept_construct * ac, validate_context * ctx"),
        ("core_post_final_validation", "void", "ec_message * msg, accept_construct * ac, validate_context * ctx"),
        ("core_final_validation2", "int", "ec_message * msg, accept_construct * ac, validate_context * ctx"),
        // Momentum 4's hook for HTTP-injected (msg_gen) messages: Momentum passes the message;
        // Impulse also passes accept and vctx, so a module can refuse it (vctx:set_code).
        ("msg_gen_data_spool", "void", "ec_message * msg, accept_construct * ac, validate_context * ctx"),
        // The rejection log hook: core_log_rejection with the text already formatted (INFERRED).
        (
            "core_log_rejection_v1", "void",
            """
            struct timeval * now, accept_construct * ac, validate_context * ctx, int phase, const char * note, int \
            note_len
            """
        )
    ]
}
